"""The yardstick of the processor benches: the seed's approach to processing a request file.

A plain aiohttp script that loads every line of the input, creates one task per line and
gathers them behind a semaphore, writing each answer as it comes (no retries, no resume, no
state). Usage: python yardstick_task_per_line.py INPUT OUTPUT BASE_URL CONCURRENCY
Prints one JSON line: {"seconds": <in-process seconds>, "n": <requests>}.
"""
import asyncio, json, sys, time, aiohttp

async def main(inp, out, url, concurrency):
    t0 = time.perf_counter()
    with open(inp) as f:
        requests = [json.loads(line) for line in f if line.strip()]
    sem = asyncio.Semaphore(concurrency)
    results = open(out, "w")
    async with aiohttp.ClientSession() as session:
        async def one(req):
            async with sem:
                try:
                    async with session.post(url + req["url"], json=req["body"]) as resp:
                        body = await resp.json()
                        line = {"custom_id": req["custom_id"], "response": {"status_code": resp.status, "body": body}}
                except Exception as exc:
                    line = {"custom_id": req["custom_id"], "error": str(exc)}
                results.write(json.dumps(line) + "\n")
        await asyncio.gather(*(one(r) for r in requests))
    results.close()
    print(json.dumps({"seconds": time.perf_counter() - t0, "n": len(requests)}))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
