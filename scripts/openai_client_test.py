"""The official OpenAI Python client against a running `tessera serve` (tessera-tiny).

usage: python openai_client_test.py BASE_URL      (e.g. http://127.0.0.1:8080)

Run by `cli/tests/service.rs` (`the_official_openai_client_talks_to_the_server`), which
installs the pinned client from PyPI into target/openai-venv and starts the server. Every
check prints one line; any failure raises and exits non-zero.
"""

import sys

import openai

base = sys.argv[1].rstrip("/") + "/v1"
client = openai.OpenAI(base_url=base, api_key="not-needed", max_retries=0)


def check(name, got, want):
    if got != want:
        raise AssertionError(f"{name}: got {got!r}, want {want!r}")
    print(f"ok {name}: {got!r}")


models = client.models.list()
check("models", [m.id for m in models.data], ["tessera-tiny"])

c = client.completions.create(model="tessera-tiny", prompt="12+30=", max_tokens=30, temperature=0)
check("completion", c.choices[0].text, "42")
check("completion finish", c.choices[0].finish_reason, "stop")
check("completion usage", c.usage.completion_tokens > 0 and c.usage.prompt_tokens > 0, True)

text = "".join(
    chunk.choices[0].text
    for chunk in client.completions.create(
        model="tessera-tiny", prompt="123+45=", max_tokens=30, stream=True
    )
)
check("completion stream", text, "168")

chat = client.chat.completions.create(
    model="tessera-tiny",
    messages=[{"role": "user", "content": "2+2="}],
    temperature=0,
    seed=7,
)
check("chat", chat.choices[0].message.content, "4")
check("chat role", chat.choices[0].message.role, "assistant")

pieces = []
roles = []
for chunk in client.chat.completions.create(
    model="tessera-tiny",
    messages=[{"role": "user", "content": "sort 5 3 9 1 ="}],
    stream=True,
    stream_options={"include_usage": True},
):
    if chunk.choices:
        delta = chunk.choices[0].delta
        roles.append(delta.role)
        pieces.append(delta.content or "")
check("chat stream", "".join(pieces), "1 3 5 9")
check("chat stream role", roles[0], "assistant")

# Diffusion options ride along under their own names.
c = client.completions.create(
    model="tessera-tiny", prompt="sort 5 3 9 1 =", max_tokens=30, stop=[" 5"],
    extra_body={"policy": "block"},
)
check("extra options and stop", c.choices[0].text, "1 3")

try:
    client.completions.create(model="tessera-tiny", prompt="hi", n=2)
    raise AssertionError("n=2 was accepted")
except openai.BadRequestError as e:
    check("refused option", e.body.get("param") if isinstance(e.body, dict) else e.body, "n")

try:
    client.completions.create(model="gpt-4o", prompt="hi")
    raise AssertionError("an unknown model was accepted")
except openai.NotFoundError as e:
    check("unknown model", e.status_code, 404)

print("all checks passed")
