// Drives Freeside's OpenAI-compatible API with the official openai client, unmodified: Freeside's URL as
// the base URL and a Freeside key as the API key. Prints one JSON object with what it saw; the C# test
// (tests/Freeside.Tests/Developers/OpenAiSdkTests.cs) checks it against the ledger.
//   node e2e.mjs --base-url http://127.0.0.1:5080 --key lf_live_…
import OpenAI from 'openai';

const arg = (name) => {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0 || at + 1 >= process.argv.length) throw new Error(`--${name} is required`);
  return process.argv[at + 1];
};

const baseURL = `${arg('base-url')}/v1`;
const client = new OpenAI({ baseURL, apiKey: arg('key'), maxRetries: 0 });
const messages = [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello from the openai client' }];
const out = {};

const models = await client.models.list();
out.models = [];
for await (const model of models) out.models.push(model.id);

const plain = await client.chat.completions.create({ model: 'cheap', messages, max_tokens: 64, temperature: 0.2, user: 'e2e' });
out.plain = { id: plain.id, object: plain.object, content: plain.choices[0].message.content, finish_reason: plain.choices[0].finish_reason, usage: plain.usage };

const stream = await client.chat.completions.create({ model: 'cheap', messages, stream: true, stream_options: { include_usage: true } });
out.stream = { chunks: 0, content: '', usage: null, finish_reason: null, ids: new Set() };
for await (const chunk of stream) {
  out.stream.chunks++;
  out.stream.ids.add(chunk.id);
  const choice = chunk.choices[0];
  if (choice?.delta?.content) out.stream.content += choice.delta.content;
  if (choice?.finish_reason) out.stream.finish_reason = choice.finish_reason;
  if (chunk.usage) out.stream.usage = chunk.usage;
}
out.stream.ids = [...out.stream.ids];

const failure = async (call) => {
  try {
    await call();
    return { status: null };
  } catch (e) {
    return { class: e.constructor.name, status: e.status ?? null, code: e.code ?? null, type: e.type ?? null };
  }
};
out.unknown_model = await failure(() => client.chat.completions.create({ model: 'gpt-4o', messages }));
out.bad_key = await failure(() => new OpenAI({ baseURL, apiKey: 'lf_live_NOTAKEY', maxRetries: 0 }).models.list());

console.log(JSON.stringify(out));
