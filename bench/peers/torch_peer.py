#!/usr/bin/env python3
"""PyTorch peer of `npm run bench`: the same training updates (and the matmul and attention cases) on the same GPU.

Usage (on a machine with PyTorch and CUDA; the GPU kit runs it as `bash .gpu/run.sh torch ARGS`):

    python3 bench/peers/torch_peer.py --configs steps.json [--ours bench.json] [--json FILE]
        [--modes fp32,tf32,bf16] [--steps NAME,...] [--budget-s S] [--compile]

--configs: the step configs as `npm run bench -- --list-steps` prints them (the kit carries them as steps.json), so
           both sides train the same models at the same batch and context.
--ours:    our bench report from the same machine; each update is then also reported as ours over theirs (tokens/s),
           and MFU is taken against the report's peak (the device table's FP32 figure; bf16 MFU against it is marked).
--modes:   fp32 = float32 without TF32 (torch.backends.*.allow_tf32 off, matmul precision "highest"): the same
           arithmetic as our f32 kernels; tf32 = float32 tensors with TF32 matmuls; bf16 = bf16 autocast over float32
           weights (the usual mixed precision).
--budget-s: stop starting new cases after this many seconds (the report so far is still written, "complete": false).

Each update is what our Trainer does: forward, mean cross-entropy over B*T next tokens, backward, global gradient-norm
clip at 1.0, AdamW (lr 3e-4, betas 0.9/0.95, eps 1e-8, weight decay 0.1 on 2-D tensors only), fused AdamW being
PyTorch's fastest. Attention is F.scaled_dot_product_attention (causal), PyTorch's own fused kernels. Eager mode by
default (what most users run); --compile adds torch.compile'd runs (mode suffix "+compile"), which take minutes to
compile. Timing: `warmup` untimed updates, then `steps` updates between two torch.cuda.synchronize() calls (wall time,
as ours is). Tokens are uniform random ids, fixed seed, a fresh batch per update.
"""

import argparse
import datetime
import json
import math
import os
import sys
import time
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F


# --- models, written from the configs' fields (src/model/*/config.ts) -------------------------------------------------


class Gpt2Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        w = c["width"]
        self.heads, self.head_dim = c["heads"], c["headDim"]
        self.ln1 = nn.LayerNorm(w, eps=1e-5)
        self.qkv = nn.Linear(w, 3 * w)
        self.proj = nn.Linear(w, w)
        self.ln2 = nn.LayerNorm(w, eps=1e-5)
        self.fc = nn.Linear(w, 4 * w)
        self.fc_proj = nn.Linear(4 * w, w)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        shape = (B, T, self.heads, self.head_dim)
        q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))
        y = sdpa_causal(q, k, v)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Gpt2(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c["vocabSize"], c["width"])
        self.wpe = nn.Embedding(c["positions"], c["width"])
        self.blocks = nn.ModuleList(Gpt2Block(c) for _ in range(c["layers"]))
        self.ln_f = nn.LayerNorm(c["width"], eps=1e-5)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, idx):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for b in self.blocks:
            x = b(x)
        return F.linear(self.ln_f(x), self.wte.weight)  # the tied head


class RmsNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


def rotate(x, cos, sin):
    # Hugging Face's convention: the head's two halves rotate against each other.
    h = x.shape[-1] // 2
    rot = torch.cat((-x[..., h:], x[..., :h]), dim=-1)
    return x * cos + rot * sin


class LlamaBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        w, d = c["width"], c["headDim"]
        self.heads, self.kv, self.head_dim = c["heads"], c["kvHeads"], d
        bias = bool(c.get("qkvBias"))
        self.norm1 = RmsNorm(w, c["rmsEps"])
        self.q = nn.Linear(w, self.heads * d, bias=bias)
        self.k = nn.Linear(w, self.kv * d, bias=bias)
        self.v = nn.Linear(w, self.kv * d, bias=bias)
        self.o = nn.Linear(self.heads * d, w, bias=bool(c.get("oBias")))
        self.qk_norm = bool(c.get("qkNorm"))
        if self.qk_norm:
            self.q_norm = RmsNorm(d, c["rmsEps"])
            self.k_norm = RmsNorm(d, c["rmsEps"])
        self.norm2 = RmsNorm(w, c["rmsEps"])
        self.gate = nn.Linear(w, c["intermediate"], bias=False)
        self.up = nn.Linear(w, c["intermediate"], bias=False)
        self.down = nn.Linear(c["intermediate"], w, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        h = self.norm1(x)
        q = self.q(h).view(B, T, self.heads, self.head_dim)
        k = self.k(h).view(B, T, self.kv, self.head_dim)
        v = self.v(h).view(B, T, self.kv, self.head_dim).transpose(1, 2)
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q = rotate(q.transpose(1, 2), cos, sin)
        k = rotate(k.transpose(1, 2), cos, sin)
        y = attend_gqa(q, k, v, self.heads // self.kv)
        x = x + self.o(y.transpose(1, 2).reshape(B, T, self.heads * self.head_dim))
        h = self.norm2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


_GQA_NATIVE = True


def attend_gqa(q, k, v, groups):
    global _GQA_NATIVE
    if groups == 1:
        return sdpa_causal(q, k, v)
    if _GQA_NATIVE and hasattr(F, "scaled_dot_product_attention"):
        try:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        except TypeError:  # PyTorch before 2.5
            _GQA_NATIVE = False
    k = k.repeat_interleave(groups, dim=1)
    v = v.repeat_interleave(groups, dim=1)
    return sdpa_causal(q, k, v)


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed = nn.Embedding(c["vocabSize"], c["width"])
        self.blocks = nn.ModuleList(LlamaBlock(c) for _ in range(c["layers"]))
        self.norm = RmsNorm(c["width"], c["rmsEps"])
        self.tied = bool(c.get("tied"))
        if not self.tied:
            self.head = nn.Linear(c["width"], c["vocabSize"], bias=False)
        std = c.get("initStd", 0.02)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        d = c["headDim"]
        inv = 1.0 / (c["ropeTheta"] ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
        self.register_buffer("inv_freq", inv, persistent=False)

    def forward(self, idx):
        T = idx.shape[1]
        f = torch.outer(torch.arange(T, device=idx.device, dtype=torch.float32), self.inv_freq)
        emb = torch.cat((f, f), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        x = self.embed(idx)
        for b in self.blocks:
            x = b(x, cos, sin)
        x = self.norm(x)
        return F.linear(x, self.embed.weight) if self.tied else self.head(x)


def build(model_cfg):
    fam = model_cfg["family"]
    if fam == "gpt2":
        return Gpt2(model_cfg)
    if fam == "llama":
        if model_cfg.get("ropeScaling"):
            raise ValueError("rope scaling is not written in this peer (it does not change the update's cost)")
        return Llama(model_cfg)
    raise ValueError(f"no PyTorch model for family {fam!r}")


# --- precision modes ------------------------------------------------------------------------------------------------


def set_tf32(on):
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    torch.set_float32_matmul_precision("high" if on else "highest")


def autocast_for(mode):
    if mode.startswith("bf16"):
        return torch.autocast(DEV.type, dtype=torch.bfloat16)
    return torch.autocast(DEV.type, enabled=False)


# --- the cases ------------------------------------------------------------------------------------------------------

DEV = torch.device("cuda")  # --device cpu: a smoke test of this script where there is no GPU (its timings mean nothing)


def sync():
    if DEV.type == "cuda":
        torch.cuda.synchronize()


def sdpa_causal(q, k, v):
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    # PyTorch before 2.0 (only the CPU smoke test can meet one): the same product written out.
    T = q.shape[-2]
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    s = s.masked_fill(torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    return s.softmax(-1) @ v


def step_case(cfg, mode, compiled):
    set_tf32(not mode.startswith("fp32"))
    torch.manual_seed(1)
    dev = DEV
    model = build(cfg["model"])
    count = sum(p.numel() for p in model.parameters())
    if cfg.get("params") is not None and count != cfg["params"]:
        raise ValueError(f"this peer's {cfg['name']} has {count} parameters, ours {cfg['params']}: not the same model")
    model = model.to(dev)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
        lr=3e-4,
        betas=(0.9, 0.95),
        eps=1e-8,
        **({"fused": True} if dev.type == "cuda" else {}),
    )
    params = decay + rest
    B, T, V = cfg["batch"], cfg["ctx"], cfg["model"]["vocabSize"]
    n = cfg["warmup"] + cfg["steps"]
    g = torch.Generator(device=dev).manual_seed(3)
    data = torch.randint(0, V, (n, B, T + 1), device=dev, generator=g)
    fwd = torch.compile(model) if compiled else model

    def update(i):
        x, y = data[i, :, :-1], data[i, :, 1:]
        with autocast_for(mode):
            logits = fwd(x)
        loss = F.cross_entropy(logits.float().view(-1, V), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)  # foreach by default on CUDA
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for i in range(cfg["warmup"]):
        update(i)
    sync()
    t0 = time.perf_counter()
    for i in range(cfg["warmup"], n):
        loss = update(i)
    sync()
    ms = (time.perf_counter() - t0) * 1000 / cfg["steps"]
    out = {
        "msPerStep": ms,
        "tokensPerSec": B * T / (ms / 1000),
        "peakBytes": torch.cuda.max_memory_allocated() if dev.type == "cuda" else None,
        "finalLoss": float(loss),
        "params": sum(p.numel() for p in params),
    }
    del model, opt, data, params, decay, rest
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return out


def time_kernel(fn, target_ms=200.0):
    """Mean ms of fn() over enough repetitions to fill target_ms (after one warm call): CUDA events on a GPU."""
    if DEV.type != "cuda":
        fn()
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1000
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    one = max(start.elapsed_time(end), 1e-3)
    reps = max(3, min(200, int(target_ms / one)))
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


def matmul_case(M, N, K, trans_a, trans_b, mode):
    set_tf32(mode != "fp32")
    dt = torch.bfloat16 if mode == "bf16" else torch.float32
    a = torch.randn((K, M) if trans_a else (M, K), device=DEV, dtype=dt)
    b = torch.randn((N, K) if trans_b else (K, N), device=DEV, dtype=dt)
    aa, bb = (a.t() if trans_a else a), (b.t() if trans_b else b)
    ms = time_kernel(lambda: torch.mm(aa, bb))
    return {"ms": ms, "tflops": 2 * M * N * K / (ms / 1000) / 1e12}


def attention_case(B, T, H, D, mode):
    set_tf32(mode != "fp32")
    dt = torch.bfloat16 if mode == "bf16" else torch.float32
    q, k, v = (torch.randn(B, H, T, D, device=DEV, dtype=dt, requires_grad=True) for _ in range(3))
    out = sdpa_causal(q, k, v)
    dout = torch.randn_like(out)
    fwd_ms = time_kernel(lambda: sdpa_causal(q, k, v).detach())

    def backward():
        o = sdpa_causal(q, k, v)
        torch.autograd.grad(o, (q, k, v), dout)

    bwd_ms = max(time_kernel(backward) - fwd_ms, 1e-6)  # forward + backward, less the forward
    # Counted as our bench counts them: forward 2·B·H·T²·D (causal half of QKᵀ and PV), backward 2.5× that.
    f = 2 * B * H * T * T * D
    return {"forwardMs": fwd_ms, "backwardMs": bwd_ms, "forwardTflops": f / fwd_ms / 1e9, "backwardTflops": 2.5 * f / bwd_ms / 1e9}


# --- driver ---------------------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", required=True, help="JSON from `npm run bench -- --list-steps`")
    ap.add_argument("--ours", help="our bench report (JSON) from the same machine, for ratios")
    ap.add_argument("--json", help="write the report here (rewritten after every case)")
    ap.add_argument("--modes", default="fp32,tf32,bf16")
    ap.add_argument("--steps", help="step configs by name (default: every AdamW f32-activation config)")
    ap.add_argument("--budget-s", type=float, default=float("inf"))
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--no-kernels", action="store_true", help="skip the matmul and attention cases")
    ap.add_argument("--device", default="cuda", help="cuda (default), or cpu for a smoke test of this script")
    ap.add_argument("--kernel-sizes", default="1024,2048,4096", help="square matmul sizes")
    ap.add_argument("--attention", default="8,1024,12,64", help="B,T,H,D of the attention case")
    args = ap.parse_args()
    global DEV
    DEV = torch.device(args.device)

    t_start = time.perf_counter()
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in ("fp32", "tf32", "bf16"):
            sys.exit(f"torch_peer: --modes takes fp32, tf32, bf16; got {m!r}")
    if DEV.type == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_peer: PyTorch sees no CUDA device (--device cpu runs a smoke test of this script)")
    with open(args.configs) as f:
        configs = json.load(f)
    ours = None
    if args.ours:
        with open(args.ours) as f:
            ours = json.load(f)
    ours_steps = {s["config"]: s for s in (ours or {}).get("steps", [])}
    peak = (ours or {}).get("peak") or None
    peak_flops = peak.get("flops") if isinstance(peak, dict) else None
    chosen = set(args.steps.split(",")) if args.steps else None
    steps = [
        c
        for c in configs
        if c["optimizer"] == "adamw" and not c.get("halfActivations") and not c.get("precision") and (chosen is None or c["name"] in chosen)
    ]
    if chosen is not None:
        missing = chosen - {c["name"] for c in steps}
        if missing:
            sys.exit(f"torch_peer: --steps: no AdamW f32 config named {', '.join(sorted(missing))}")

    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "peer": "pytorch",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(0) if DEV.type == "cuda" else "cpu (smoke test: timings say nothing)",
        "modes": modes,
        "fusedAdamW": True,
        "compiled": args.compile,
        "steps": [],
        "matmul": [],
        "attention": [],
        "errors": [],
        "complete": False,
    }

    def save():
        if args.json:
            with open(args.json + ".part", "w") as f:
                json.dump(report, f, indent=2)
            os.replace(args.json + ".part", args.json)

    def log(line):
        print(line, file=sys.stderr, flush=True)

    def attempt(section, label, fn):
        if time.perf_counter() - t_start > args.budget_s:
            report["errors"].append({"section": section, "case": label, "error": "skipped: --budget-s reached"})
            return None
        try:
            return fn()
        except Exception as e:  # one case failing (out of memory, an unsupported op) must not lose the others
            if DEV.type == "cuda":
                torch.cuda.empty_cache()
            report["errors"].append({"section": section, "case": label, "error": f"{type(e).__name__}: {e}"})
            log(f"{section} {label}: {type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stderr)
            return None
        finally:
            save()

    log(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {report['device']}")
    run_modes = [(m, False) for m in modes] + ([(m + "+compile", True) for m in modes] if args.compile else [])
    for cfg in steps:
        for mode, compiled in run_modes:
            r = attempt("step", f"{cfg['name']} {mode}", lambda: step_case(cfg, mode, compiled))
            if r is None:
                continue
            tflops = r["tokensPerSec"] * cfg["flopsPerToken"] / 1e12
            row = {"config": cfg["name"], "mode": mode, "batch": cfg["batch"], "ctx": cfg["ctx"], **r, "tflops": tflops}
            # MFU against the FP32 peak our report used; a bf16/tf32 figure against it is marked as such.
            row["mfuOfFp32Peak"] = tflops * 1e12 / peak_flops if peak_flops else None
            mine = ours_steps.get(cfg["name"])
            row["oursTokensPerSec"] = mine["tokensPerSec"] if mine else None
            row["oursOverTheirs"] = mine["tokensPerSec"] / r["tokensPerSec"] if mine else None
            report["steps"].append(row)
            ratio = f", ours/theirs {row['oursOverTheirs']:.2f}×" if mine else ""
            mem = f", peak {r['peakBytes'] / 2**20:.0f} MiB" if r["peakBytes"] is not None else ""
            log(
                f"step {cfg['name']} {mode}: {r['msPerStep']:.1f} ms/update, {r['tokensPerSec']:.0f} tok/s, "
                f"{tflops:.2f} TFLOP/s{mem}{ratio}"
            )
            save()

    if not args.no_kernels:
        sizes = [int(n) for n in args.kernel_sizes.split(",") if n]
        shapes = [(n, n, n, False, False, f"{n}³") for n in sizes]
        seen = {(s[0], s[1], s[2], s[3], s[4]) for s in shapes}
        for m in (ours or {}).get("matmul", []):
            key = (m["M"], m["N"], m["K"], bool(m.get("transA")), bool(m.get("transB")))
            if key not in seen:
                seen.add(key)
                shapes.append((*key, m.get("label", "")))
        ours_mm = {
            (m["M"], m["N"], m["K"], bool(m.get("transA")), bool(m.get("transB"))): m for m in (ours or {}).get("matmul", [])
        }
        for M, N, K, ta, tb, label in shapes:
            for mode in modes:
                r = attempt("matmul", f"{label} {M}x{N}x{K} {mode}", lambda: matmul_case(M, N, K, ta, tb, mode))
                if r is None:
                    continue
                mine = ours_mm.get((M, N, K, ta, tb))
                row = {"label": label, "M": M, "N": N, "K": K, "transA": ta, "transB": tb, "mode": mode, **r}
                row["oursTflops"] = mine["tflops"] if mine else None
                report["matmul"].append(row)
                log(f"matmul {label} {M}×{N}×{K} {mode}: {r['ms']:.3f} ms, {r['tflops']:.2f} TFLOP/s")
        aB, aT, aH, aD = (int(v) for v in args.attention.split(","))
        for mode in modes:
            label = f"B{aB} T{aT} H{aH} D{aD} {mode}"
            r = attempt("attention", label, lambda: attention_case(aB, aT, aH, aD, mode))
            if r is None:
                continue
            report["attention"].append({"B": aB, "T": aT, "H": aH, "D": aD, "mode": mode, **r})
            log(f"attention {label}: forward {r['forwardTflops']:.2f}, backward {r['backwardTflops']:.2f} TFLOP/s")

    report["complete"] = True
    report["seconds"] = time.perf_counter() - t_start
    save()
    if not args.json:
        print(json.dumps(report, indent=2))
    if report["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
