"""The model-folder kinds of the adversarial suite (imported by ``make_adversarial.py``).

A model case names a base folder (``llada-tiny`` … in ``tests/fixtures``, or a repository
path such as ``models/tessera-tiny``) and edits the runner applies to a temporary copy of
it: ``remove``, ``write`` (inline text), ``replace`` (from ``{files}``), ``edit_json``
(``set``/``delete`` by JSON pointer), ``splice`` (byte ranges replaced by hex or a file),
``move`` and ``symlink``. Weights are never copied into the fixture tree: offsets for the
splices are computed here from the committed files.
"""

import json
import os
import struct

from adversarial_files import Safetensors, rand_bytes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
SHARD1 = "model-00001-of-00002.safetensors"
SHARD2 = "model-00002-of-00002.safetensors"
HUGE = 10**12
U64_MAX = 2**64 - 1

# Commands that load the model in {model}: ids (no tokenizer involved), text, chat.
IDS = ["generate", "--model", "{model}", "--prompt-ids", "1,2,3", "--gen-length", "8", "--steps", "4"]
TEXT = ["generate", "--model", "{model}", "--prompt", "hello", "--gen-length", "8", "--steps", "4"]
CHAT = TEXT + ["--chat"]
T2I = ["generate", "--model", "{model}", "--task", "t2i", "--prompt", "x", "--steps", "2", "--json"]
WORLD = ["generate", "--model", "{model}", "--prompt", "1+1="]


def all_kinds(s, fails, usage, succeeds, text_ok):
    k = Kinds(s, fails, succeeds, text_ok)
    k.configs()
    k.world_configs()
    k.generation_configs()
    k.checkpoints()
    k.shards()
    k.tokenizers()
    k.codecs()
    k.codes()


class Kinds:
    def __init__(self, s, fails, succeeds, text_ok):
        self.s, self.fails, self.succeeds, self.text_ok = s, fails, succeeds, text_ok

    def model(self, kind, name, base, args, expect, **edits):
        model = {"base": base}
        model.update({k: v for k, v in edits.items() if k not in ("secs", "mib", "rss")})
        self.s.add(kind, name, args, expect, model=model, secs=edits.get("secs"))

    def edit(self, kind, name, base, args, expect, set_=None, delete=None, file="config.json"):
        e = {}
        if set_:
            e["set"] = set_
        if delete:
            e["delete"] = delete
        self.model(kind, name, base, args, expect, edit_json={file: e})

    # -----------------------------------------------------------------------------------
    # What a huge value of a dimension is refused with: its field by name, or the first
    # tensor or field it contradicts (checked before anything is sized by it).
    HUGE_NEEDLES = {
        "d_model": "has shape", "hidden_size": "has shape", "mlp_hidden_size": "has shape",
        "intermediate_size": "has shape", "embedding_size": "has shape",
        "n_layers": "missing from the checkpoint", "num_hidden_layers": "missing from the checkpoint",
        "n_heads": "is not divisible by n_heads", "num_attention_heads": "is not divisible by num_attention_heads",
        "n_kv_heads": "`n_kv_heads`", "num_key_value_heads": "`num_key_value_heads`",
        "vocab_size": "vocab_size", "llm_vocab_size": "`llm_vocab_size`", "codebook_size": "`codebook_size`",
        "num_vq_tokens": "`num_vq_tokens`",
    }

    def configs(self):
        families = {
            "llada-tiny": ["d_model", "n_layers", "n_heads", "n_kv_heads", "mlp_hidden_size",
                           "vocab_size", "embedding_size", "max_sequence_length"],
            "dream-tiny": ["hidden_size", "num_hidden_layers", "num_attention_heads",
                           "num_key_value_heads", "intermediate_size", "vocab_size",
                           "max_position_embeddings"],
            "mmada-tiny": ["d_model", "n_layers", "llm_vocab_size", "codebook_size",
                           "num_vq_tokens", "max_sequence_length"],
        }
        f = self.fails
        bad_values = (0, -1, 64.5, "64")
        for fam, (base, dims) in enumerate(families.items()):
            short = base.split("-")[0]
            for v in ((-1, 0, 1e-60, "1e-5") * 2)[fam : fam + 2]:
                self.edit("config", f"{short}-rms_norm_eps={v}", base, IDS, f("`rms_norm_eps`"), set_={"/rms_norm_eps": v})
            for v in ((0, -10000, 1e39, "x") * 2)[fam : fam + 2]:
                self.edit("config", f"{short}-rope_theta={v}", base, IDS, f("`rope_theta`"), set_={"/rope_theta": v})
            mask = {"llada": 299, "dream": 319, "mmada": 299}[short]
            for i, dim in enumerate(dims):
                # One of the wrong values per field, rotating over the fields; a huge value
                # on every other field.
                v = bad_values[(i + fam) % 4]
                self.edit("config", f"{short}-{dim}={v}", base, IDS, f(f"`{dim}`"), set_={"/" + dim: v})
                if (i + fam) % 2 and dim not in ("num_vq_tokens", "max_sequence_length", "max_position_embeddings"):
                    continue
                label, v = (("huge", HUGE), ("u64-max", U64_MAX))[i // 2 % 2]
                if dim in ("max_sequence_length", "max_position_embeddings"):
                    # A longer context than the model was trained for is a claim, not a
                    # size: nothing is allocated for it, requests stay bounded by max_canvas.
                    self.edit("valid", f"{short}-{dim}-{label}", base, IDS + ["--json"],
                              self.succeeds(self.text_ok(8, mask, 320 if short != "mmada" else 310)), set_={"/" + dim: v})
                    continue
                args = T2I if dim == "num_vq_tokens" else IDS
                # Dream has no embedding_size: its vocabulary is the embedding's rows.
                needle = "has shape" if (short, dim) == ("dream", "vocab_size") else self.HUGE_NEEDLES[dim]
                self.edit("config", f"{short}-{dim}-{label}", base, args, f(needle), set_={"/" + dim: v})
            for req in dims[fam : fam + 1]:
                self.edit("config", f"{short}-missing-{req}", base, IDS, f(f"`{req}`", "missing"), delete=["/" + req])
            for i, tid in enumerate(("mask_token_id", "eos_token_id", "bos_token_id")):
                if i == fam:
                    continue
                v = (HUGE, -1, 4294967296, 100000)[(i + fam) % 4]
                self.edit("config", f"{short}-{tid}={v}", base, IDS, f(f"`{tid}`"), set_={"/" + tid: v})
            self.edit("config", f"{short}-model_type-unknown", base, IDS, f("unknown model family"),
                      set_={"/model_type": "gpt2", "/architectures": ["GPT2LMHeadModel"]})
        self.edit("config", "dream-architectures-string", "dream-tiny", IDS, f("`architectures`"), set_={"/architectures": "DreamModel"})
        self.edit("config", "mmada-model_type-number", "mmada-tiny", IDS, f("`model_type`"), set_={"/model_type": 5})
        self.edit("config", "mmada-missing-num_vq_tokens", "mmada-tiny", IDS, f("`num_vq_tokens`", "missing"), delete=["/num_vq_tokens"])
        self.edit("config", "llada-contradicting-architectures", "llada-tiny", IDS, f("`architectures`"), set_={"/architectures": ["DreamModel"]})
        self.edit("config", "llada-heads-not-dividing", "llada-tiny", IDS, f("d_model"), set_={"/n_heads": 3, "/n_kv_heads": 3})
        self.edit("config", "dream-kv-heads-not-dividing", "dream-tiny", IDS, f("`num_key_value_heads`"), set_={"/num_key_value_heads": 3})
        self.edit("config", "llada-vocab-over-embedding", "llada-tiny", IDS, f("vocab_size"), set_={"/vocab_size": 400})
        self.edit("config", "llada-layer_norm_type-bogus", "llada-tiny", IDS, f("`layer_norm_type`"), set_={"/layer_norm_type": "bogus"})
        self.edit("config", "llada-activation-bogus", "llada-tiny", IDS, f("`activation_type`"), set_={"/activation_type": "bogus"})
        self.edit("config", "llada-alibi-true", "llada-tiny", IDS, f("`alibi`"), set_={"/alibi": True})
        self.edit("config", "llada-attention-bogus", "llada-tiny", IDS, f("attention"), set_={"/attention": "bogus"})
        for name, text, needle in (
            ("empty", "", "config.json"),
            ("not-json", "{", "config.json"),
            ("nan-literal", '{"model_type": "llada", "rms_norm_eps": NaN}', "config.json"),
            ("array", "[1, 2]", "(root)"),
            ("null", "null", "(root)"),
            ("string", '"llada"', "(root)"),
            ("binary", None, "config.json"),
        ):
            data = text if text is not None else rand_bytes(256, 9).decode("latin-1")
            self.model("config", f"llada-root-{name}", "llada-tiny", IDS, f(needle), write={"config.json": data})
        self.model("config", "llada-missing-config", "llada-tiny", IDS, f("config.json"), remove=["config.json"])
        self.model("config", "llada-config-is-directory", "llada-tiny", IDS, f("config.json"), remove=["config.json"], mkdir=["config.json"])

    def world_configs(self):
        f = self.fails
        t2a = ["generate", "--model", "{model}", "--task", "t2a", "--prompt", "C4", "--json"]
        cases = [
            ("text_length=0", {"/tessera/text_length": 0}, WORLD, "tessera.text_length"),
            ("text_length-huge", {"/tessera/text_length": HUGE}, WORLD, "tessera.text_length"),
            ("text_length-string", {"/tessera/text_length": "24"}, WORLD, "tessera.text_length"),
            ("text_align-middle", {"/tessera/text_align": "middle"}, WORLD, "tessera.text_align"),
            ("audio_frames=0", {"/tessera/audio_frames": 0}, t2a, "tessera.audio_frames"),
            ("audio_frames-string", {"/tessera/audio_frames": "31"}, t2a, "tessera.audio_frames"),
            ("text=0", {"/token_space/text": 0}, WORLD, "`text`"),
            ("text-over-logits", {"/token_space/text": 1000}, WORLD, "do not fit the model's 521 logits"),
            ("text-huge", {"/token_space/text": HUGE}, WORLD, "token_space.text"),
            ("image_codes=0", {"/token_space/image_codes": 0}, WORLD, "token_space.image_codes"),
            ("image_codes-huge", {"/token_space/image_codes": HUGE}, WORLD, "token_space.image_codes"),
            ("ranges-wrap-u32", {"/token_space/text": 4_000_000_000, "/token_space/image_codes": 4_000_000_000},
             WORLD, "token_space.image_codes"),
            ("audio_codes-level-0", {"/token_space/audio_codes": [0]}, WORLD, "token_space.audio_codes"),
            ("audio_codes-huge", {"/token_space/audio_codes": [HUGE]}, WORLD, "token_space.audio_codes"),
            ("audio_codes-number", {"/token_space/audio_codes": 5}, WORLD, "token_space.audio_codes"),
            ("audio_codes-none", {"/token_space/audio_codes": []}, t2a, "no audio level 0"),
            ("places=0", {"/place_embedding/places": 0}, WORLD, "place_embedding"),
            ("places-huge", {"/place_embedding/places": HUGE}, WORLD, "place_embedding"),
            ("places-disagree", {"/place_embedding/places": 1000}, WORLD, "wpe_place"),
            ("digit_ids-outside", {"/place_embedding/digit_ids": [9999]}, WORLD, "place_embedding"),
            ("digit_ids-string", {"/place_embedding/digit_ids": "x"}, WORLD, "place_embedding"),
            ("image_tokenizer-missing", {"/tessera/image_tokenizer": "missing-folder"}, WORLD, "missing-folder/config.json"),
            ("image_tokenizer-number", {"/tessera/image_tokenizer": 7}, WORLD, "tessera.image_tokenizer"),
            ("image_tokenizer-absolute", {"/tessera/image_tokenizer": "/etc"}, WORLD, "tessera.image_tokenizer"),
            ("image_tokenizer-escape", {"/tessera/image_tokenizer": "../../../../etc"}, WORLD, "tessera.image_tokenizer"),
            ("image_tokenizer-empty", {"/tessera/image_tokenizer": ""}, WORLD, "tessera.image_tokenizer"),
            ("audio_tokenizer-escape", {"/tessera/audio_tokenizer": "../x"}, WORLD, "tessera.audio_tokenizer"),
            ("audio_frames-huge", {"/tessera/audio_frames": 10**12}, t2a, "tessera.audio_frames"),
            ("audio_tokenizer-missing", {"/tessera/audio_tokenizer": "missing-folder"}, WORLD, "missing-folder/config.json"),
        ]
        for name, set_, args, needle in cases:
            self.edit("world-config", name, "models/tessera-tiny", args, f(needle), set_=set_)

    def generation_configs(self):
        f = self.fails
        for name, text, needle in (
            ("eos-huge", '{"eos_token_id": 1000000000000}', "eos_token_id"),
            ("eos-outside-embedding", '{"eos_token_id": 5000}', "eos_token_id"),
            ("eos-list-of-strings", '{"eos_token_id": ["x"]}', "eos_token_id"),
            ("eos-string", '{"eos_token_id": "x"}', "eos_token_id"),
            ("pad-negative", '{"pad_token_id": -1}', "pad_token_id"),
            ("not-json", "{", "generation_config.json"),
        ):
            self.model("generation-config", name, "dream-tiny", IDS, f(needle), write={"generation_config.json": text})
        self.model("valid", "generation-config-eos-empty-list", "dream-tiny", IDS + ["--json"], self.succeeds(self.text_ok(8, 319, 320)),
                   write={"generation_config.json": '{"eos_token_id": []}'})
        self.model("valid", "generation-config-array-root", "dream-tiny", IDS + ["--json"], self.succeeds(self.text_ok(8, 319, 320)),
                   write={"generation_config.json": "[1, 2]"})

    # -----------------------------------------------------------------------------------
    def head_case(self, name, st, header, needles, text=None, extra_splices=(), base="dream-tiny", file="model.safetensors",
                  args=IDS):
        head = st.head(header, text=text)
        path = self.s.file(f"ckpt/{name}.head", head)
        # Later ranges first: each splice's offsets are those of the committed file.
        splices = list(extra_splices) + [{"file": file, "start": 0, "end": st.data_start, "with": path}]
        self.model("checkpoint", name, base, args, self.fails(*needles), splice=splices)

    def valid_head(self, name, st, header, base="dream-tiny"):
        path = self.s.file(f"ckpt/{name}.head", st.head(header))
        self.model("valid", name, base, IDS + ["--json"], self.succeeds(self.text_ok(8, 319, 320)),
                   splice=[{"file": "model.safetensors", "start": 0, "end": st.data_start, "with": path}])

    def checkpoints(self):
        st = Safetensors(os.path.join(FIXTURES, "dream-tiny", "model.safetensors"))
        names = st.names_by_offset()
        prev, nxt = names[3], names[4]
        p0, p1 = st.offsets(prev)
        n0, n1 = st.offsets(nxt)
        h = st.copy()
        h[nxt]["data_offsets"] = [n0 - 4, n1 - 4]
        self.head_case("overlap", st, h, ["overlaps", nxt])
        h = st.copy()
        h[nxt]["data_offsets"] = [p0, p0 + n1 - n0]
        self.head_case("out-of-order-overlap", st, h, ["overlaps"])
        h = st.copy()
        for n in names[4:]:
            a, b = st.offsets(n)
            h[n]["data_offsets"] = [a + 8, b + 8]
        at = st.data_start + p1
        self.head_case("gap", st, h, ["belong to no tensor", prev],
                       extra_splices=[{"file": "model.safetensors", "start": at, "end": at, "hex": "00" * 8}])
        self.head_case("trailing-padding", st, st.header, ["belong to no tensor"],
                       extra_splices=[{"file": "model.safetensors", "start": st.size, "end": st.size, "hex": "00" * 8}])
        h = st.copy()
        h[nxt]["data_offsets"] = [n1, n0]
        self.head_case("reversed-offsets", st, h, ["reversed data offsets", nxt])
        vec = next(n for n in names if len(st.header[n]["shape"]) == 1)
        mat = next(n for n in names if len(st.header[n]["shape"]) == 2 and st.header[n]["shape"][0] != st.header[n]["shape"][1])
        (length,) = st.header[vec]["shape"]
        for label, shape, needles in (
            ("byte-count", [length - 1], ["needs", vec]),
            ("shape-overflow", [2**40, 2**40], ["more than 2^64", vec]),
            ("shape-negative", [-1], ["not a valid safetensors"]),
            ("shape-string", ["64"], ["not a valid safetensors"]),
        ):
            h = st.copy()
            h[vec]["shape"] = shape
            self.head_case(label, st, h, needles)
        h = st.copy()
        h[mat]["shape"] = list(reversed(h[mat]["shape"]))
        self.head_case("shape-transposed", st, h, ["has shape", mat])
        h = st.copy()
        h[vec]["dtype"], h[vec]["shape"] = "F64", [length // 2]
        self.head_case("dtype-f64", st, h, ["has shape", vec])
        h = st.copy()
        h[vec]["dtype"], h[vec]["shape"] = "BF16", [length * 2]
        self.head_case("dtype-bf16-mislabelled", st, h, ["has shape", vec])
        for dt in ("garbage", "I8", "BOOL"):
            h = st.copy()
            h[vec]["dtype"] = dt
            self.head_case(f"dtype-{dt}", st, h, [vec, f"unsupported dtype {dt}" if dt == "garbage" else f"dtype {dt}"])
        h = {("renamed.weight" if k == vec else k): v for k, v in st.header.items()}
        self.head_case("tensor-renamed", st, h, ["missing from the checkpoint", vec])
        h = st.copy()
        del h[nxt]["data_offsets"]
        self.head_case("offsets-missing", st, h, ["not a valid safetensors"])
        h = st.copy()
        h[nxt]["data_offsets"] = [str(n0), str(n1)]
        self.head_case("offsets-strings", st, h, ["not a valid safetensors"])
        h = st.copy()
        h[nxt]["data_offsets"] = [n0, U64_MAX]
        self.head_case("offsets-end-u64-max", st, h, ["model.safetensors"])
        text = json.dumps(st.header, separators=(",", ":"))
        twin = dict(st.header[names[0]])
        twin["data_offsets"] = st.header[names[1]]["data_offsets"]
        self.head_case("duplicate-key", st, None, ["more than once", names[0]],
                       text="{" + json.dumps(names[0]) + ":" + json.dumps(twin, separators=(",", ":")) + "," + text[1:])
        self.head_case("header-not-json", st, None, ["not a valid safetensors"], text="{not json" + " " * 8)
        self.head_case("header-array", st, None, ["not a valid safetensors"], text="[]")
        self.head_case("header-empty-object", st, None, ["model.safetensors"], text="{}")
        for label, claimed in (("u64-max", U64_MAX), ("200mb", 200_000_000), ("past-eof", st.size)):
            self.model("checkpoint", f"header-length-{label}", "dream-tiny", IDS,
                       self.fails("model.safetensors", *(["header length"] if label != "past-eof" else [])),
                       splice=[{"file": "model.safetensors", "start": 0, "end": 8, "hex": struct.pack("<Q", claimed).hex()}])
        for label, keep in (("minus-4", st.size - 4), ("header-only", st.data_start), ("8-bytes", 8), ("4-bytes", 4), ("empty", 0)):
            self.model("checkpoint", f"truncated-{label}", "dream-tiny", IDS,
                       self.fails("model.safetensors", *(["truncated"] if label in ("minus-4", "header-only") else [])),
                       splice=[{"file": "model.safetensors", "start": keep, "end": None, "hex": ""}])
        h = st.copy()
        h["__metadata__"] = {"format": "pt", "note": "x" * 100}
        self.valid_head("safetensors-metadata-extra", st, h)
        h = {k: v for k, v in st.header.items() if k != "__metadata__"}
        self.valid_head("safetensors-no-metadata", st, h)
        padded = st.head(text=json.dumps(st.header, separators=(",", ":")) + " " * 16)
        self.s.file("ckpt/padded-header.head", padded)
        self.model("valid", "safetensors-header-padded-with-spaces", "dream-tiny", IDS + ["--json"], self.succeeds(self.text_ok(8, 319, 320)),
                   splice=[{"file": "model.safetensors", "start": 0, "end": st.data_start, "with": "{files}/ckpt/padded-header.head"}])
        self.poison_cases(st)

    def poison_cases(self, st):
        """NaN and infinite weights: generation ends with a typed error naming the stage."""
        def at(st, tensor, element):
            return st.data_start + st.offsets(tensor)[0] + 4 * element
        nan, inf = struct.pack("<f", float("nan")).hex(), struct.pack("<f", float("inf")).hex()
        # Dream: mask row of the embedding; block 1; the final norm.
        for label, tensor, element, value, needle in (
            ("dream-nan-embedding", "model.embed_tokens.weight", 319 * 64, nan, "the embedding"),
            ("dream-inf-block-1", "model.layers.1.mlp.down_proj.weight", 0, inf, "block 1"),
            ("dream-nan-final-norm", "model.norm.weight", 0, nan, "LM head"),
        ):
            pos = at(st, tensor, element)
            self.model("checkpoint", label, "dream-tiny", IDS, self.fails("non-finite", needle),
                       splice=[{"file": "model.safetensors", "start": pos, "end": pos + 4, "hex": value}])
        sh = Safetensors(os.path.join(FIXTURES, "llada-tiny", SHARD1))
        wmap = json.load(open(os.path.join(FIXTURES, "llada-tiny", "model.safetensors.index.json")))["weight_map"]
        shard = wmap["model.transformer.wte.weight"]
        sh = Safetensors(os.path.join(FIXTURES, "llada-tiny", shard))
        pos = at(sh, "model.transformer.wte.weight", 299 * 64)
        self.model("checkpoint", "llada-nan-embedding", "llada-tiny", IDS, self.fails("non-finite", "the embedding"),
                   splice=[{"file": shard, "start": pos, "end": pos + 4, "hex": nan}])
        tiny = Safetensors(os.path.join(ROOT, "models", "tessera-tiny", "model.safetensors"))
        pos = at(tiny, "model.transformer.wte.weight", 520 * 256)
        self.model("checkpoint", "tiny-nan-embedding", "models/tessera-tiny", WORLD, self.fails("non-finite", "the embedding"),
                   splice=[{"file": "model.safetensors", "start": pos, "end": pos + 4, "hex": nan}])
        pos = at(tiny, "model.transformer.ln_f.weight", 3)
        self.model("checkpoint", "tiny-inf-final-norm", "models/tessera-tiny", WORLD, self.fails("non-finite"),
                   splice=[{"file": "model.safetensors", "start": pos, "end": pos + 4, "hex": inf}])

    def shards(self):
        f = self.fails
        for label, bad in (
            ("dotdot-etc-passwd", "../../etc/passwd"),
            ("absolute-etc-passwd", "/etc/passwd"),
            ("sub-dotdot", "sub/../../outside.safetensors"),
            ("dotdot-inside", SHARD2 + "/../" + SHARD2),
            ("absolute-fixture", "{fixtures}/llada-tiny/" + SHARD2),
        ):
            why = "absolute" if label.startswith("absolute") else ".."
            index = json.load(open(os.path.join(FIXTURES, "llada-tiny", "model.safetensors.index.json")))
            for k, v in index["weight_map"].items():
                if v == SHARD2:
                    index["weight_map"][k] = bad
            self.model("shard", label, "llada-tiny", IDS, f("is refused", why),
                       write={"model.safetensors.index.json": json.dumps(index, indent=1)})
        for label, text, needle in (
            ("index-not-json", "{", "model.safetensors.index.json"),
            ("index-array", "[]", "model.safetensors.index.json"),
            ("weight-map-missing", '{"metadata": {}}', "weight_map"),
            ("weight-map-list", '{"weight_map": []}', "expected a map"),
            ("weight-map-empty", '{"weight_map": {}}', "missing from the checkpoint"),
            ("shard-name-number", '{"weight_map": {"model.transformer.wte.weight": 5}}', "model.safetensors.index.json"),
            ("shard-name-empty", '{"weight_map": {"model.transformer.wte.weight": ""}}', "is refused"),
            ("shard-name-dot", '{"weight_map": {"model.transformer.wte.weight": "."}}', "model.safetensors.index.json"),
            ("shard-name-nul", '{"weight_map": {"model.transformer.wte.weight": "a\\u0000b"}}', "NUL"),
        ):
            self.model("shard", label, "llada-tiny", IDS, f(needle), write={"model.safetensors.index.json": text})
        self.model("valid", "index-metadata-missing", "llada-tiny", IDS + ["--json"], self.succeeds(self.text_ok(8, 299, 320)),
                   edit_json={"model.safetensors.index.json": {"delete": ["/metadata"]}})
        self.model("shard", "shard-missing", "llada-tiny", IDS, f(SHARD2), remove=[SHARD2])
        self.model("shard", "index-and-no-shards", "llada-tiny", IDS, f(SHARD1), remove=[SHARD1, SHARD2])
        self.model("shard", "no-weights", "llada-tiny", IDS, f("no weights"), remove=[SHARD1, SHARD2, "model.safetensors.index.json"])
        for label, target in (("etc-passwd", "/etc/passwd"), ("valid-shard-outside", "{fixtures}/llada-tiny/" + SHARD2),
                              ("dangling", "{model}/nowhere")):
            self.model("shard", f"symlink-{label}", "llada-tiny", IDS, f(SHARD2), remove=[SHARD2], symlink={SHARD2: target})
        self.model("valid", "symlinked-shard-inside-folder", "llada-tiny", IDS + ["--json"], self.succeeds(self.text_ok(8, 299, 320)),
                   move={SHARD2: "blobs/shard-2"}, symlink={SHARD2: "blobs/shard-2"})
        # The same tensor in both shards: shard 2 gains a copy of shard 1's first tensor.
        s1 = Safetensors(os.path.join(FIXTURES, "llada-tiny", SHARD1))
        s2 = Safetensors(os.path.join(FIXTURES, "llada-tiny", SHARD2))
        first = s1.names_by_offset()[0]
        a, b = s1.offsets(first)
        data = open(os.path.join(FIXTURES, "llada-tiny", SHARD1), "rb").read()[s1.data_start + a : s1.data_start + b]
        h = s2.copy()
        end = s2.size - s2.data_start
        h[first] = dict(s1.header[first], data_offsets=[end, end + b - a])
        path = self.s.file("ckpt/llada-duplicate-tensor.head", s2.head(h))
        self.model("shard", "tensor-in-two-shards", "llada-tiny", IDS, f("stored both in", first),
                   splice=[{"file": SHARD2, "start": s2.size, "end": s2.size, "hex": data.hex()},
                           {"file": SHARD2, "start": 0, "end": s2.data_start, "with": path}])

    # -----------------------------------------------------------------------------------
    def tokenizers(self):
        f = self.fails
        tok = open(os.path.join(FIXTURES, "llada-tiny", "tokenizer.json"), "rb").read()
        for label, data in (("empty", b""), ("object", b"{}"), ("array", b"[]"), ("null", b"null"),
                            ("truncated", tok[: len(tok) // 2]), ("random", rand_bytes(2048, 11)),
                            ("model-bogus", tok.replace(b'"type": "BPE"', b'"type": "Bogus"').replace(b'"type":"BPE"', b'"type":"Bogus"'))):
            path = self.s.file(f"tokenizer/{label}.json", data)
            self.model("tokenizer", f"tokenizer-{label}", "llada-tiny", TEXT, f("tokenizer.json"), replace={"tokenizer.json": path})
        cfg = json.load(open(os.path.join(FIXTURES, "llada-tiny", "tokenizer_config.json")))
        templates = [
            ("repeat-string", "{{ 'x' * 99999999 }}", ["`*`"]),
            ("repeat-list", "{% for x in [1] * 8888888888 %}{{ x }}{% endfor %}", ["`*`"]),
            ("range-huge", "{% for i in range(99999999) %}x{% endfor %}", ["99999999"]),
            ("indent-huge", "{{ messages[0]['content'] | indent(99999999999) }}", ["99999999999"]),
            ("float-huge", "{{ 1e300 }}", ["chat template"]),
            ("nested-loops", "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}", ["chat template"]),
            ("recursion", "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", ["chat template"]),
            ("syntax-error", "{% for %}", ["chat template"]),
            ("raise", "{{ raise_exception('refused by the template') }}", ["refused by the template"]),
            ("undefined-call", "{{ nothing() }}", ["chat template"]),
            ("render-bomb", "{% for i in range(100000) %}{{ messages[0]['content'] }}{% endfor %}", ["chat template"]),
            ("renders-empty", "", ["prompt"]),
        ]
        for label, template, needles in templates:
            c = dict(cfg, chat_template=template)
            args = CHAT if label != "render-bomb" else CHAT[:4] + ["y" * 1000] + CHAT[5:]
            self.model("tokenizer", f"chat-template-{label}", "llada-tiny", args, f(*needles),
                       write={"tokenizer_config.json": json.dumps(c)}, secs=60)
        for label, value in (("number", 5), ("object", {"a": 1}), ("list-bad", [{"name": 1}])):
            self.model("tokenizer", f"chat-template-type-{label}", "llada-tiny", CHAT, f("chat_template"),
                       write={"tokenizer_config.json": json.dumps(dict(cfg, chat_template=value))})
        self.model("tokenizer", "chat-template-absent", "llada-tiny", CHAT, f("chat template"),
                   write={"tokenizer_config.json": json.dumps({k: v for k, v in cfg.items() if k != "chat_template"})})
        self.model("tokenizer", "tokenizer-config-not-json", "llada-tiny", CHAT, f("tokenizer_config.json"),
                   write={"tokenizer_config.json": "{"})
        self.model("tokenizer", "bos-token-number", "llada-tiny", CHAT, f("bos_token"),
                   write={"tokenizer_config.json": json.dumps(dict(cfg, bos_token=7))})
        wide = json.loads(tok)
        wide["model"]["vocab"]["he"] = 5000
        path = self.s.file("tokenizer/token-5000.json", json.dumps(wide).encode())
        self.model("tokenizer", "token-outside-embedding", "llada-tiny", TEXT[:4] + ["hehe"] + TEXT[5:],
                   f("token id 5000", "vocabulary"), replace={"tokenizer.json": path})
        wt = json.load(open(os.path.join(ROOT, "models", "tessera-tiny", "tokenizer.json")))
        for label, data in (("empty", b""), ("truncated", json.dumps(wt).encode()[:500])):
            path = self.s.file(f"tokenizer/tiny-{label}.json", data)
            self.model("tokenizer", f"world-tokenizer-{label}", "models/tessera-tiny", WORLD, f("tokenizer.json"), replace={"tokenizer.json": path})
        self.model("tokenizer", "world-tokenizer-missing", "models/tessera-tiny", WORLD, f("tokenizer"), remove=["tokenizer.json"])

    def codecs(self):
        f = self.fails
        enc_img = ["image", "encode", "--vq", "{model}", "{fixtures}/images/shapes_16.png"]
        for ptr, values in (
            ("/patch", [0, HUGE, 7]),
            ("/resolution", [[0, 0], [HUGE, HUGE], [64], [65536, 65536]]),
            ("/codebook_size", [0, HUGE, 100]),
            ("/type", ["bogus"]),
        ):
            for v in values:
                self.edit("codec", f"patch-vq{ptr.replace('/', '-')}={json.dumps(v)}", "models/tessera-tiny/image-vq", enc_img,
                          f(ptr[1:] if ptr != "/patch" or v != 7 else "resolution"), set_={ptr: v})
        enc_wav = ["audio", "encode", "--codec", "{model}", "{fixtures}/audio/sine440.wav"]
        for ptr, values in (
            ("/frame_size", [0, HUGE]),
            ("/sample_rate", [0, HUGE]),
            ("/levels", [0, 1000]),
            ("/codebook_size", [HUGE]),
            ("/transform", ["bogus"]),
        ):
            for v in values:
                self.edit("codec", f"frame-vq{ptr.replace('/', '-')}={json.dumps(v)}", "models/tessera-tiny/audio-vq", enc_wav, f(f"`{ptr[1:]}`"), set_={ptr: v})
        self.edit("codec", "frame-vq-sample_rate=2147483647", "models/tessera-tiny/audio-vq", enc_wav, f("2147483647 Hz"),
                  set_={"/sample_rate": 2147483647})
        enc_encodec = ["audio", "encode", "--codec", "{model}", "{fixtures}/audio/sine440.wav"]
        for ptr, values in (("/sampling_rate", [0]), ("/codebook_size", [0]), ("/upsampling_ratios", [[], [0, 3, 2]]),
                            ("/num_lstm_layers", [HUGE]), ("/target_bandwidths", [[]])):
            for v in values:
                self.edit("codec", f"encodec{ptr.replace('/', '-')}={json.dumps(v)}", "encodec-tiny", enc_encodec, f(f"`{ptr[1:]}`"), set_={ptr: v})
        enc_magvit = ["image", "encode", "--vq", "{model}", "{fixtures}/images/pattern_32.png"]
        for ptr, values in (("/encoder/resolution", [HUGE]), ("/codebook_dim", [0, 64]), ("/encoder/ch_mult", [[]])):
            for v in values:
                self.edit("codec", f"magvit{ptr.replace('/', '-')}={json.dumps(v)}", "magvit-tiny", enc_magvit,
                          f(f"`{ptr[1:].replace('/', '.')}`"), set_={ptr: v})
        self.model("codec", "patch-vq-weights-truncated", "models/tessera-tiny/image-vq", enc_img, f("model.safetensors"),
                   splice=[{"file": "model.safetensors", "start": 1000, "end": None, "hex": ""}])
        self.model("codec", "frame-vq-weights-missing", "models/tessera-tiny/audio-vq", enc_wav, f("model.safetensors"), remove=["model.safetensors"])

    def codes(self):
        f = self.fails
        img = ["image", "decode", "--vq", "{tiny}/image-vq", "-o", "{out}/x.png", "--codes"]
        grid = list(range(64))
        for label, value, needles in (
            ("code-out-of-range", {"codes": [99999] + grid[1:], "height": 8, "width": 8}, ["99999"]),
            ("grid-mismatch", {"codes": grid, "height": 4, "width": 4}, ["codes"]),
            ("height-zero", {"codes": [], "height": 0, "width": 8}, ["0x8 grid"]),
            ("huge-grid", {"codes": grid, "height": U64_MAX, "width": U64_MAX}, ["codes"]),
            ("negative-code", {"codes": [-1] + grid[1:], "height": 8, "width": 8}, ["not a codes file"]),
            ("codes-strings", {"codes": ["a"] * 64, "height": 8, "width": 8}, ["not a codes file"]),
            ("missing-width", {"codes": grid, "height": 8}, ["not a codes file"]),
            ("other-grid", {"codes": list(range(16)), "height": 4, "width": 4}, ["4"]),
        ):
            path = self.s.file(f"codes/image-{label}.json", json.dumps(value).encode())
            self.s.add("codes", f"image-{label}", img + [path], f(*needles))
        aud = ["audio", "decode", "--codec", "{tiny}/audio-vq", "-o", "{out}/x.wav", "--codes"]
        for label, value, needles in (
            ("code-out-of-range", {"codes": [[99999, 1, 2]], "sample_rate": 16000}, ["99999"]),
            ("too-many-levels", {"codes": [[1, 2], [1, 2]], "sample_rate": 16000}, ["levels"]),
            ("no-levels", {"codes": [], "sample_rate": 16000}, ["codes"]),
            ("empty-level", {"codes": [[]], "sample_rate": 16000}, ["codes"]),
            ("sample-rate-wrong", {"codes": [[1, 2]], "sample_rate": 44100}, ["44100 Hz"]),
            ("sample-rate-zero", {"codes": [[1, 2]], "sample_rate": 0}, ["0 Hz"]),
            ("negative-code", {"codes": [[-1]], "sample_rate": 16000}, ["not a codes file"]),
            ("not-json", None, ["not a codes file"]),
        ):
            data = json.dumps(value).encode() if value is not None else b"{"
            path = self.s.file(f"codes/audio-{label}.json", data)
            self.s.add("codes", f"audio-{label}", aud + [path], f(*needles))
        self.s.add("codes", "image-codes-missing-file", img + ["{files}/codes/missing.json"], f("missing.json"))
        self.s.add("codes", "image-codes-dev-zero", img + ["/dev/zero"], f("/dev/zero", "at most"), secs=60)
