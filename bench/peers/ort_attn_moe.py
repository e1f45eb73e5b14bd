#!/usr/bin/env python3
"""ONNX Runtime peer for the attention/MoE benchmark (bench/run-attn-moe.sh,
qiao-bench attention|moe). Runs in the venv bench/peers/setup.sh makes.

    ort_attn_moe.py --cases FILE --threads N

The same stdin/stdout protocol as the ggml peer (bench/peers/ggml_attn_moe.c):

    time NAME REPS   -> "ok OPNAME t1 t2 ..." | "unsupported WHY"
    check NAME DIR   -> reads DIR/NAME.inI.f32, writes DIR/NAME.ort.f32 -> "ok OPNAME"
    quit

Each case is a one-op ONNX model run by the CPU execution provider with
intra_op_num_threads = N (inter-op 1, sequential). Attention tries the ONNX
Attention op (opset 23, 4-D BNSH, GQA native), com.microsoft
GroupQueryAttention (causal or not, 3-D BSH) and com.microsoft
MultiHeadAttention (KV heads repeated to the query heads, outside the timed
op's graph inputs); MoE tries com.microsoft MoE with fused SwiGLU (gate and up
concatenated, activation_alpha 1, beta 0: silu(g)·u) and with activation silu
plus fc3. Every candidate that builds and runs is timed briefly and the fastest
is kept: its name is printed with the times. K/V (attention) and the expert
weights (MoE) are initializers, as in a deployed model; the query (and the
new K/V for GroupQueryAttention) and x are inputs.
"""
import argparse
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

NP = {"f32": np.float32, "f16": np.float16}
TP = {"f32": TensorProto.FLOAT, "f16": TensorProto.FLOAT16}


def load_cases(path):
    cases = {}
    for raw in open(path):
        line = raw.split("#", 1)[0].split()
        if not line:
            continue
        if line[0] == "attn":
            c = dict(kind="attn", name=line[1], B=int(line[2]), Hq=int(line[3]), Hkv=int(line[4]),
                     Sq=int(line[5]), Skv=int(line[6]), D=int(line[7]), dtype=line[8],
                     causal=int(line[9]) != 0)
        else:
            c = dict(kind="moe", name=line[1], T=int(line[2]), dim=int(line[3]),
                     hidden=int(line[4]), E=int(line[5]), top_k=int(line[6]), dtype=line[7])
        cases[c["name"]] = c
    return cases


def session(model, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 4
    # Worker threads stop spinning after each run: the other libraries' blocks
    # follow on the same 2 cores (qiao-bench also pauses between blocks).
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def make_model(nodes, inputs, outputs, inits, opset_onnx=23):
    g = helper.make_graph(nodes, "peer", inputs, outputs, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset_onnx),
                                            helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 10
    return m


def rand(rng, shape):
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


# ------------------------------------------------------------------ attention

def attn_candidates(c, q, k, v):
    """Yields (opname, model, feeds, to_qiao) for each attention formulation."""
    dt = c["dtype"]
    if dt not in NP:
        return
    B, Hq, Hkv, Sq, Skv, D = c["B"], c["Hq"], c["Hkv"], c["Sq"], c["Skv"], c["D"]
    T, npdt = TP[dt], NP[dt]
    scale = 1.0 / np.sqrt(D)
    causal = c["causal"]
    # ONNX Attention (opset 23): is_causal is top-left aligned, so it is only
    # the same work when Sq == Skv (or for one decode query, which sees all keys).
    if not causal or Sq == Skv:
        node = helper.make_node("Attention", ["Q", "K", "V"], ["O"], is_causal=int(causal and Sq > 1),
                                scale=float(scale))
        m = make_model([node], [helper.make_tensor_value_info("Q", T, [B, Hq, Sq, D])],
                       [helper.make_tensor_value_info("O", T, [B, Hq, Sq, D])],
                       [numpy_helper.from_array(k.astype(npdt), "K"),
                        numpy_helper.from_array(v.astype(npdt), "V")])
        yield "Attention(opset 23)", m, {"Q": q.astype(npdt)}, lambda o: o
    # GroupQueryAttention: past K/V (BNSH) + the last Sq keys as new K/V (BSH).
    past = Skv - Sq
    qb = q.transpose(0, 2, 1, 3).reshape(B, Sq, Hq * D).astype(npdt)
    kn = k[:, :, past:, :].transpose(0, 2, 1, 3).reshape(B, Sq, Hkv * D).astype(npdt)
    vn = v[:, :, past:, :].transpose(0, 2, 1, 3).reshape(B, Sq, Hkv * D).astype(npdt)
    node = helper.make_node("GroupQueryAttention",
                            ["q", "k", "v", "past_k", "past_v", "seqlens_k", "total_len"],
                            ["O", "present_k", "present_v"], domain="com.microsoft",
                            num_heads=Hq, kv_num_heads=Hkv, scale=float(scale),
                            causal=int(causal or Sq == 1))
    if causal or Sq == 1:  # causal = 0 needs a newer kernel; one query sees every key anyway
        m = make_model([node], [helper.make_tensor_value_info("q", T, [B, Sq, Hq * D]),
                                helper.make_tensor_value_info("k", T, [B, Sq, Hkv * D]),
                                helper.make_tensor_value_info("v", T, [B, Sq, Hkv * D])],
                       [helper.make_tensor_value_info("O", T, [B, Sq, Hq * D])],
                       [numpy_helper.from_array(k[:, :, :past, :].astype(npdt), "past_k"),
                        numpy_helper.from_array(v[:, :, :past, :].astype(npdt), "past_v"),
                        numpy_helper.from_array(np.full((B,), Skv - 1, np.int32), "seqlens_k"),
                        numpy_helper.from_array(np.array(Skv, np.int32), "total_len")])
        yield ("GroupQueryAttention", m, {"q": qb, "k": kn, "v": vn},
               lambda o: o.reshape(B, Sq, Hq, D).transpose(0, 2, 1, 3))
    # MultiHeadAttention: no GQA, so K/V repeated to Hq heads (BNSH key/value).
    if not causal or Sq == 1:
        rep = Hq // Hkv
        node = helper.make_node("MultiHeadAttention", ["q", "K", "V"], ["O"],
                                domain="com.microsoft", num_heads=Hq, scale=float(scale))
        m = make_model([node], [helper.make_tensor_value_info("q", T, [B, Sq, Hq * D])],
                       [helper.make_tensor_value_info("O", T, [B, Sq, Hq * D])],
                       [numpy_helper.from_array(np.repeat(k, rep, axis=1).astype(npdt), "K"),
                        numpy_helper.from_array(np.repeat(v, rep, axis=1).astype(npdt), "V")])
        yield ("MultiHeadAttention(kv repeated)", m, {"q": qb},
               lambda o: o.reshape(B, Sq, Hq, D).transpose(0, 2, 1, 3))


# ------------------------------------------------------------------ moe

def moe_candidates(c, x, r, g, u, d):
    """x [T, dim], r [dim, E], g/u [E, dim, F], d [E, F, dim] (Qiao's layouts)."""
    dt = c["dtype"]
    if dt not in NP:
        return
    T, dm, E, K = c["T"], c["dim"], c["E"], c["top_k"]
    Tt, npdt = TP[dt], NP[dt]
    gT = g.transpose(0, 2, 1)  # [E, F, dim]
    uT = u.transpose(0, 2, 1)
    dT = d.transpose(0, 2, 1)  # [E, dim, F]
    xin = x.astype(npdt)
    inputs = [helper.make_tensor_value_info("x", Tt, [T, dm])]
    outputs = [helper.make_tensor_value_info("y", Tt, [T, dm])]
    router = helper.make_node("MatMul", ["x", "router"], ["logits"])
    rinit = numpy_helper.from_array(r.astype(npdt), "router")
    # interleaved SwiGLU (swiglu_fusion 1): fc1 rows gate_0, up_0, gate_1, up_1, ...
    gu = np.stack([gT, uT], axis=2).reshape(E, 2 * c["hidden"], dm)
    for fusion, w in ((1, gu), (2, np.concatenate([gT, uT], axis=1))):
        node = helper.make_node("MoE", ["x", "logits", "fc1", "", "fc2"], ["y"],
                                domain="com.microsoft", k=K, normalize_routing_weights=1,
                                activation_type="swiglu", swiglu_fusion=fusion,
                                activation_alpha=1.0, activation_beta=0.0)
        m = make_model([router, node], inputs, outputs,
                       [rinit, numpy_helper.from_array(w.astype(npdt), "fc1"),
                        numpy_helper.from_array(dT.astype(npdt), "fc2")])
        yield "MoE(swiglu fusion %d)" % fusion, m, {"x": xin}, lambda o: o
    fc3 = helper.make_node("MoE", ["x", "logits", "fc1", "", "fc2", "", "fc3"], ["y"],
                           domain="com.microsoft", k=K, normalize_routing_weights=1,
                           activation_type="silu")
    m = make_model([router, fc3], inputs, outputs,
                   [rinit, numpy_helper.from_array(gT.astype(npdt), "fc1"),
                    numpy_helper.from_array(dT.astype(npdt), "fc2"),
                    numpy_helper.from_array(uT.astype(npdt), "fc3")])
    yield "MoE(silu, fc3)", m, {"x": xin}, lambda o: o


# ------------------------------------------------------------------ driver

class Peer:
    def __init__(self, cases, threads):
        self.cases, self.threads = cases, threads
        self.cur = None  # (name, opname, sess, feeds, to_qiao)
        self.failed = {}  # (kind, dtype, opname) -> why, for formulations that failed once

    def setup(self, c, arrays):
        """Builds every candidate; keeps the fastest that runs. Returns a reason or None."""
        gen = attn_candidates(c, *arrays) if c["kind"] == "attn" else moe_candidates(c, *arrays)
        best, why = None, []
        for opname, model, feeds, conv in gen:
            key = (c["kind"], c["dtype"], opname)
            if key in self.failed:
                why.append("%s: %s" % (opname, self.failed[key]))
                continue
            try:
                s = session(model, self.threads)
                s.run(None, feeds)
                t0 = time.perf_counter()
                n = 0
                while n < 2 or (n < 50 and time.perf_counter() - t0 < 0.2):
                    s.run(None, feeds)
                    n += 1
                t = (time.perf_counter() - t0) / n
            except Exception as e:  # a formulation this build does not run: not tried again
                self.failed[key] = str(e).splitlines()[0][:120]
                why.append("%s: %s" % (opname, self.failed[key]))
                continue
            if best is None or t < best[0]:
                best = (t, opname, s, feeds, conv)
        if best is None:
            self.cur = None
            return "; ".join(why) or "no formulation"
        self.cur = (c["name"], best[1], best[2], best[3], best[4])
        return None

    def arrays(self, c, src_dir=None):
        rng = np.random.default_rng(42)
        if c["kind"] == "attn":
            shapes = [(c["B"], c["Hq"], c["Sq"], c["D"]), (c["B"], c["Hkv"], c["Skv"], c["D"]),
                      (c["B"], c["Hkv"], c["Skv"], c["D"])]
        else:
            E, dm, F = c["E"], c["dim"], c["hidden"]
            shapes = [(c["T"], dm), (dm, E), (E, dm, F), (E, dm, F), (E, F, dm)]
        if src_dir is None:
            return [rand(rng, s) for s in shapes]
        return [np.fromfile(os.path.join(src_dir, "%s.in%d.f32" % (c["name"], i)),
                            dtype=np.float32).reshape(s) for i, s in enumerate(shapes)]

    def time(self, c, reps):
        if c["dtype"] not in NP:  # before building any array (64 f32 experts: 2.2 GB)
            return "unsupported no %s kernels in the CPU execution provider" % c["dtype"]
        if self.cur is None or self.cur[0] != c["name"]:
            why = self.setup(c, self.arrays(c))
            if why:
                return "unsupported " + why
        _, opname, s, feeds, _ = self.cur
        t0, n = time.perf_counter(), 0
        while n < 3 or time.perf_counter() - t0 < 0.02:  # warm-up: >= 3 runs and >= 20 ms
            s.run(None, feeds)
            n += 1
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            s.run(None, feeds)
            ts.append(time.perf_counter() - t0)
        return "ok %s %s" % (opname.replace(" ", "_"), " ".join("%.9f" % t for t in ts))

    def check(self, c, d):
        if c["dtype"] not in NP:
            return "unsupported no %s kernels in the CPU execution provider" % c["dtype"]
        why = self.setup(c, self.arrays(c, d))
        if why:
            return "unsupported " + why
        _, opname, s, feeds, conv = self.cur
        out = conv(s.run(None, feeds)[0]).astype(np.float32)
        np.ascontiguousarray(out).tofile(os.path.join(d, "%s.ort.f32" % c["name"]))
        self.cur = None
        return "ok " + opname.replace(" ", "_")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", required=True)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    ort.set_default_logger_severity(4)  # failed candidates are reported in the reply
    peer = Peer(load_cases(a.cases), a.threads)
    for line in sys.stdin:
        w = line.split()
        if not w:
            continue
        if w[0] == "quit":
            break
        c = peer.cases.get(w[1]) if len(w) > 1 else None
        if c is None:
            reply = "unsupported no such case"
        elif w[0] == "time":
            reply = peer.time(c, int(w[2]))
        elif w[0] == "check":
            reply = peer.check(c, w[2])
        else:
            reply = "unsupported unknown command " + w[0]
        print(reply, flush=True)


if __name__ == "__main__":
    main()
