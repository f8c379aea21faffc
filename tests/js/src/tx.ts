// pb.tx from JS, for the pb:data transaction suite (tests/tests/e2e/transactions.rs):
// records, pb:kv and pb:jobs writes that commit or roll back together.
//
//   POST {op, tag, id?}  → {ok: …} or {error: {name, message}, jobId?}
//     op "commit"   creates accounts {name: tag, balance: 100}, kv tx:<tag> and job `mark` {tag}
//     op "throw"    the same, then throws
//     op "deduct"   balance -= 10 on record id, then fetches a closed port
//     op "spin"     balance -= 10 on record id, then loops forever (the host's timeout)
//     op "slowIncr" reads record id, waits 200 ms, writes balance + 1
//     op "many"     creates n accounts {name: `${tag}/${i}`, balance: i}, kv keys
//                   many:<tag>/<i> = i and job `mark` {tag}, in one transaction
//                   (the crash test, tests/tests/e2e/crash_mid_write.rs)
//   GET ?kv=KEY     → {value: pb.kv.get(KEY)}
//   GET ?record=ID  → {record} or {error}


async function writeAll(tx: any, tag: string, out: any) {
  out.record = await tx.collection("accounts").create({ name: tag, balance: 100 });
  await tx.kv().set(`tx:${tag}`, { tag });
  out.jobId = await tx.jobs.enqueue("mark", { tag });
}

export async function POST(req: Request): Promise<Response> {
  const a = await req.json();
  const out: any = {};
  try {
    switch (a.op) {
      case "commit":
        await pb.tx(async (tx: any) => writeAll(tx, a.tag, out));
        break;
      case "throw":
        await pb.tx(async (tx: any) => {
          await writeAll(tx, a.tag, out);
          throw new Error("changed my mind");
        });
        break;
      case "deduct":
      case "spin":
        await pb.tx(async (tx: any) => {
          const acc = tx.collection("accounts");
          const r = await acc.getOne(a.id);
          await acc.update(a.id, { balance: r.balance - 10 });
          if (a.op === "deduct") {
            await fetch("http://127.0.0.1:1/charge");
          } else {
            for (;;) {}
          }
        });
        break;
      case "many":
        await pb.tx(async (tx: any) => {
          const n = Number(a.n ?? 3);
          for (let i = 0; i < n; i++) {
            await tx.collection("accounts").create({ name: `${a.tag}/${i}`, balance: i });
            await tx.kv().set(`many:${a.tag}/${i}`, i);
          }
          out.jobId = await tx.jobs.enqueue("mark", { tag: a.tag });
        });
        break;
      case "slowIncr":
        await pb.tx(async (tx: any) => {
          const acc = tx.collection("accounts");
          const r = await acc.getOne(a.id);
          await new Promise((resolve) => setTimeout(resolve, 200));
          out.record = await acc.update(a.id, { balance: r.balance + 1 });
        });
        break;
      default:
        throw new Error(`unknown op ${a.op}`);
    }
    return Response.json({ ok: out });
  } catch (e: any) {
    return Response.json({ error: { name: e.name, message: String(e.message) }, jobId: out.jobId ?? null });
  }
}

export async function GET(req: Request): Promise<Response> {
  const params = new URL(req.url).searchParams;
  const id = params.get("record");
  if (id !== null) {
    try {
      return Response.json({ record: await pb.collection("accounts").getOne(id) });
    } catch (e: any) {
      return Response.json({ error: { name: e.name, status: e.status ?? null, message: String(e.message) } });
    }
  }
  return Response.json({ value: await pb.kv.get(params.get("kv") ?? "") });
}

/** The job enqueued inside the transaction: marks that it ran. */
export async function mark(data: { tag: string }) {
  await pb.kv.set(`job:${data.tag}`, true);
}
