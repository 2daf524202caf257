"""Python reference for benches/embed-bench.sh: the same model, tokenizer,
truncation, batch size and pooling as agg, with onnxruntime and tokenizers
from pip. Prints one JSON line like agg's embed_bench example.

Usage: py_bench.py MODEL_DIR INPUT.jsonl FIELD N BATCH MAX_TOKENS REPEAT [DUMP.f32]
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def item_text(title, text):
    title, text = title.strip(), text.strip()
    if not text:
        return title
    if not title:
        return text
    return f"{title}. {text}"


def main():
    model_dir, path, field, n, batch, max_tokens, repeat = sys.argv[1:8]
    n, batch, max_tokens, repeat = int(n), int(batch), int(max_tokens), int(repeat)
    dump = sys.argv[8] if len(sys.argv) > 8 else None
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    texts = []
    while len(texts) < n:
        for r in rows:
            if len(texts) == n:
                break
            t = r["title"] if field == "title" else item_text(r["title"], r.get("text", ""))
            texts.append(t)

    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(max_tokens)
    t0 = time.perf_counter()
    sess = ort.InferenceSession(f"{model_dir}/model.onnx", providers=["CPUExecutionProvider"])
    load_s = time.perf_counter() - t0
    names = {i.name for i in sess.get_inputs()}

    def embed(ts):
        out = []
        for s in range(0, len(ts), batch):
            enc = tok.encode_batch(ts[s : s + batch])
            L = max(len(e.ids) for e in enc)
            ids = np.zeros((len(enc), L), dtype=np.int64)
            mask = np.zeros_like(ids)
            for i, e in enumerate(enc):
                ids[i, : len(e.ids)] = e.ids
                mask[i, : len(e.ids)] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in names:
                feed["token_type_ids"] = np.zeros_like(ids)
            h = sess.run(None, feed)[0]
            m = mask[..., None].astype(np.float32)
            v = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
            v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
            out.append(v)
        return np.concatenate(out)

    embed(texts[:batch])  # warm-up
    times = []
    for _ in range(max(repeat, 1)):
        t = time.perf_counter()
        vecs = embed(texts)
        times.append(time.perf_counter() - t)
    times.sort()
    if dump:
        vecs.astype("<f4").tofile(dump)
    print(json.dumps({
        "impl": f"Python onnxruntime {ort.__version__}",
        "device": "cpu",
        "field": field,
        "n": n,
        "batch": batch,
        "sorted_by_length": False,
        "max_tokens": max_tokens,
        "load_s": load_s,
        "best_s": times[0],
        "median_s": times[len(times) // 2],
        "items_per_s_best": n / times[0],
        "items_per_s_median": n / times[len(times) // 2],
    }))


if __name__ == "__main__":
    main()
