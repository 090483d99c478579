// The official OpenAI JavaScript client against a running `tessera serve` (tessera-tiny).
//
// usage: node openai_client_test.mjs BASE_URL      (e.g. http://127.0.0.1:8080)
//
// Run by cli/tests/service.rs (`the_official_openai_js_client_talks_to_the_server`), which
// installs the pinned client from npm into target/openai-js and starts the server. Every
// check prints one line; any failure throws and exits non-zero.
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: process.argv[2].replace(/\/$/, "") + "/v1",
  apiKey: "not-needed",
  maxRetries: 0,
});

function check(name, got, want) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${name}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
  console.log(`ok ${name}: ${JSON.stringify(got)}`);
}

const models = await client.models.list();
check("models", models.data.map((m) => m.id), ["tessera-tiny"]);

const c = await client.completions.create({ model: "tessera-tiny", prompt: "12+30=", max_tokens: 30 });
check("completion", c.choices[0].text, "42");

let text = "";
const stream = await client.completions.create({
  model: "tessera-tiny", prompt: "123+45=", max_tokens: 30, stream: true,
});
for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
check("completion stream", text, "168");

const chat = await client.chat.completions.create({
  model: "tessera-tiny", messages: [{ role: "user", content: "2+2=" }],
});
check("chat", chat.choices[0].message.content, "4");

let pieces = "";
const chatStream = await client.chat.completions.create({
  model: "tessera-tiny", messages: [{ role: "user", content: "sort 5 3 9 1 =" }], stream: true,
});
for await (const chunk of chatStream) pieces += chunk.choices[0]?.delta?.content ?? "";
check("chat stream", pieces, "1 3 5 9");

try {
  await client.completions.create({ model: "tessera-tiny", prompt: "hi", n: 2 });
  throw new Error("n=2 was accepted");
} catch (e) {
  check("refused option", e.status, 400);
}
console.log("all checks passed");
