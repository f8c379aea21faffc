// bench/webcrypto/ops.js under Node: `node bench/webcrypto/node.mjs OP N`.
import { run } from "./ops.js";

const [op, n] = process.argv.slice(2);
console.log(JSON.stringify(await run(op, Number(n))));
