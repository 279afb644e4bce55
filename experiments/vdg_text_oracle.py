"""Can the world VDG's language model write exact deltas when it is *told* both scenes?

The world VDG reads two images and writes the change. Its exact match on held-out pairs is
bounded by two things: how well it reads each image, and how well its language model learns
to turn "what is in the reference" and "what is in the target" into a delta. This experiment
removes the first: the same from-scratch Llama as `vdgray vdg assemble` builds for the
synthetic world (sizes, tokenizer) gets the two scenes' true captions as text, and learns the
human delta from the world's train triplets. Its exact match on the val pairs is what a VDG
with perfect reading would reach with that language model and that data.

`--pretrain N` first trains on N (caption, caption, delta) texts of fresh scene pairs from the
world's generator (another seed; no gallery or CIRR image): the stand-in for a language model
that already knows how to describe a difference, as the paper's Vicuna-7B does.

    python experiments/vdg_text_oracle.py --world runs/demo-default/world --epochs 20 \
        --out runs/oracle.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vdgray import storage
from vdgray.data.synthetic.attributes import Scene, perturb, sample_scene
from vdgray.data.synthetic.language import caption, change_key, delta_text, parse_delta
from vdgray.data.synthetic.texts import world_texts
from vdgray.eval.vdg_metrics import delta_scores
from vdgray.models.vdg.build import llama_config, world_tokenizer
from vdgray.train.vdg_data import IGNORE, Examples, collate

PRETRAIN_SEED = 987654  # fresh scenes, never a world's gallery or CIRR scene (those use 0..)


def truth_rows(world: str) -> tuple[dict, list[dict]]:
    """image name -> truth row, and every query row, from W/truth."""
    truth = storage.join(world, "truth")
    images = storage.read_parquet([storage.join(truth, "images.parquet")]).to_pylist()
    queries = storage.read_parquet([storage.join(truth, "queries.parquet")]).to_pylist()
    return {r["name"]: r for r in images}, queries


class Oracle:
    """The world LM, its tokenizer and the (prompt ids, response ids) encoding."""

    def __init__(self, world: str, hidden: int, layers: int, heads: int, seed: int):
        from transformers import LlamaForCausalLM

        torch.manual_seed(seed)
        self.tok = world_tokenizer(world_texts(world))
        self.sep, self.eos = self.tok.bos_token_id, self.tok.eos_token_id
        cfg = llama_config(len(self.tok), self.tok, hidden=hidden, layers=layers, heads=heads)
        self.model = LlamaForCausalLM(cfg)

    def ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def example(self, ref_caption: str, tgt_caption: str, delta: str) -> tuple[list, list]:
        prompt = self.ids(ref_caption) + [self.sep] + self.ids(tgt_caption) + [self.sep]
        return prompt, self.ids(delta) + [self.eos]

    def examples(self, pairs: list[tuple[list, list]]) -> Examples:
        """(prompt ids, response ids) pairs as training examples, the prompt masked."""
        return Examples([p + r for p, r in pairs], [[IGNORE] * len(p) + r for p, r in pairs],
                        [[] for _ in pairs], [])

    def fit(self, examples: Examples, epochs: int, lr: float, batch_size: int, label: str,
            on_step=None) -> list[float]:
        """AdamW + one-cycle over `epochs` passes; loss on the response tokens only."""
        steps_per = len(examples) // batch_size
        opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps_per,
                                                    pct_start=0.05)
        self.model.train()
        losses, step = [], 0
        for epoch in range(epochs):
            order = np.random.default_rng(epoch).permutation(len(examples))
            bar = tqdm(range(steps_per), desc=f"{label} {epoch + 1}/{epochs}", leave=False)
            for k in bar:
                b = collate(examples, order[k * batch_size:(k + 1) * batch_size].tolist(),
                            self.tok.pad_token_id)
                loss = self.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                                  labels=b["labels"]).loss
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
                step += 1
                if on_step:
                    on_step(epoch, step, losses)
        return losses

    @torch.no_grad()
    def deltas(self, prompts: list[list[int]], max_new_tokens: int = 24) -> list[str]:
        self.model.eval()
        out = []
        for p in prompts:
            ids = self.model.generate(torch.tensor([p]), max_new_tokens=max_new_tokens,
                                      do_sample=False, eos_token_id=self.eos,
                                      pad_token_id=self.tok.pad_token_id)
            out.append(self.tok.decode(ids[0, len(p):], skip_special_tokens=True))
        self.model.train()
        return out


def pretrain_scenes(n: int, two_object_prob: float, two_change_prob: float):
    """n (reference scene, target scene, true changes, delta) from fresh scenes of the world's
    generator."""
    rng = np.random.default_rng(PRETRAIN_SEED)
    out = []
    for _ in range(n):
        ref = sample_scene(rng, two_object_prob)
        tgt, changes = perturb(ref, rng, 2 if rng.random() < two_change_prob else 1)
        out.append((ref, tgt, changes, delta_text(changes, ref, rng)))
    return out


def pretrain_texts(n: int, two_object_prob: float, two_change_prob: float):
    """n (reference caption, target caption, delta): the pretraining texts."""
    return [(caption(ref), caption(tgt), delta)
            for ref, tgt, _, delta in pretrain_scenes(n, two_object_prob, two_change_prob)]


def evaluate(oracle: Oracle, images: dict, val: list[dict]) -> dict:
    prompts = [oracle.example(images[q["reference"]]["caption"],
                              images[q["target"]]["caption"], "")[0] for q in val]
    texts = oracle.deltas(prompts)
    pred = [parse_delta(t, Scene.from_json(images[q["reference"]]["attributes"]))
            for q, t in zip(val, texts, strict=True)]
    scores = delta_scores(pred, [change_key(json.loads(q["changes"])) for q in val])
    scores["samples"] = [{"generated": t, "human": q["caption"]}
                         for t, q in list(zip(texts, val, strict=True))[:5]]
    return scores


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", required=True, help="a synthetic world URI (with truth/)")
    ap.add_argument("--epochs", type=int, default=20, help="passes over the human triplets")
    ap.add_argument("--n-train", type=int, default=None, help="use the first N train triplets")
    ap.add_argument("--n-val", type=int, default=None, help="score the first N val pairs")
    ap.add_argument("--pretrain", type=int, default=0, help="(caption, caption, delta) texts first")
    ap.add_argument("--eval-every", type=int, default=5, help="epochs (pretraining: 1,500 steps)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the evaluations as JSON here")
    a = ap.parse_args(argv)

    images, queries = truth_rows(a.world)
    train = [q for q in queries if q["split"] == "train"][: a.n_train]
    val = [q for q in queries if q["split"] == "val"][: a.n_val]
    oracle = Oracle(a.world, a.hidden, a.layers, a.heads, a.seed)
    log: list[dict] = []
    t0 = time.time()

    def record(phase: str, step: int, losses: list[float]) -> None:
        s = evaluate(oracle, images, val)
        entry = {"phase": phase, "step": step, "loss": float(np.mean(losses[-100:])),
                 "exact_match": s["exact_match"], "by_changes": s["exact_match_by_changes"],
                 "unparsed": s["unparsed_fraction"], "samples": s["samples"],
                 "elapsed_s": round(time.time() - t0, 1)}
        log.append(entry)
        by = " ".join(f"{k}-change {v:.3f}" for k, v in entry["by_changes"].items())
        print(f"{phase} step {step}: loss {entry['loss']:.3f} exact {entry['exact_match']:.3f} "
              f"({by}) unparsed {entry['unparsed']:.2f}  [{entry['elapsed_s']:.0f}s]", flush=True)

    if a.pretrain:
        texts = pretrain_texts(a.pretrain, 0.3, 0.3)
        pre = oracle.examples([oracle.example(*t) for t in texts])
        every = 1500

        def on_pre(epoch, step, losses):
            if step % every == 0 or step == len(pre) // a.batch_size:
                record("pretrain", step, losses)
        oracle.fit(pre, 1, a.lr, a.batch_size, "pretrain", on_pre)

    examples = oracle.examples([oracle.example(images[q["reference"]]["caption"],
                                               images[q["target"]]["caption"], q["caption"])
                                for q in train])
    per = len(examples) // a.batch_size

    def on_human(epoch, step, losses):
        if step % per == 0 and ((epoch + 1) % a.eval_every == 0 or epoch + 1 == a.epochs):
            record("human", step, losses)
    oracle.fit(examples, a.epochs, a.lr, a.batch_size, "human", on_human)

    result = {"world": a.world, "n_train": len(train), "n_val": len(val),
              "pretrain": a.pretrain, "config": vars(a), "evaluations": log}
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
