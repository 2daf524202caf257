#!/usr/bin/env python3
"""PyTorch reference for scripts/gpu-check.sh: a MiniLM-shaped encoder
(all-MiniLM-L6-v2's shapes: 6 layers, hidden 384, 12 heads, FFN 1536, vocab
30522; random weights, since no weights can be fetched there) run on the GPU
at the shapes gpu-check uses for agg, fp32 and fp16, mean-pooled like agg.
Prints one JSON line per (seq, dtype): sentences/s, the median of 5 timed
passes after warm-up. Throughput does not depend on the weights' values.
"""
import json
import statistics
import time

import torch

SHAPES = [(32, 1024), (128, 256)]  # (tokens, batch), as in gpu-check.sh
N = {32: 65536, 128: 16384}


class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = torch.nn.Embedding(30522, 384)
        self.pos = torch.nn.Embedding(512, 384)
        self.norm = torch.nn.LayerNorm(384)
        layer = torch.nn.TransformerEncoderLayer(
            384, 12, 1536, dropout=0.0, activation="gelu", batch_first=True
        )
        self.enc = torch.nn.TransformerEncoder(layer, 6, enable_nested_tensor=False)

    def forward(self, ids, mask):
        pos = torch.arange(ids.shape[1], device=ids.device)
        h = self.norm(self.tok(ids) + self.pos(pos))
        h = self.enc(h, src_key_padding_mask=~mask)
        m = mask.unsqueeze(-1).to(h.dtype)
        v = (h * m).sum(1) / m.sum(1).clamp(min=1)
        return torch.nn.functional.normalize(v, dim=-1)


def main():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    for dtype, name in ((torch.float32, "fp32"), (torch.float16, "fp16")):
        model = Encoder().to(dev, dtype).eval()
        for seq, batch in SHAPES:
            ids = torch.randint(1000, 30000, (batch, seq), device=dev)
            mask = torch.ones(batch, seq, dtype=torch.bool, device=dev)
            steps = N[seq] // batch
            with torch.inference_mode():
                for _ in range(3):
                    model(ids, mask)
                torch.cuda.synchronize()
                times = []
                for _ in range(5):
                    t = time.perf_counter()
                    for _ in range(steps):
                        model(ids, mask).cpu()
                    torch.cuda.synchronize()
                    times.append(time.perf_counter() - t)
            s = statistics.median(times)
            print(json.dumps({"impl": "torch", "dtype": name, "seq": seq, "batch": batch,
                              "n": steps * batch, "items_per_s": steps * batch / s,
                              "gpu": torch.cuda.get_device_name(0)}), flush=True)


if __name__ == "__main__":
    main()
