"""The world LM: a small Llama that already knows how to say what changed between two scenes.

The paper's VDG inherits from Vicuna-7B the skill of turning "what is in the reference" and
"what is in the target" into a modification text. The synthetic world's VDG has no such LLM,
and a from-scratch LM needs about 10^5 (caption, caption, change) texts to learn that skill
(`experiments/vdg_text_oracle.py`: 0.16 exact after 40,000, 0.36 after 120,000), far more than
a demo can train for on 2 CPUs. So that pretraining is done once, here, and its result ships
with vdgray (`vdgray/assets/world-lm`, fp16, 5.3 MB), as a pretrained LLM ships with a real
VDG; `vdgray vdg assemble --set lm=world-lm` puts it under any vision tower.

The texts are the world's language prior (`data/synthetic/prior.py`): two fresh scenes'
captions and the true change, in the VDG's `describe` response form
("before: <caption> after: <caption> change: <delta>"), from the world generator under a seed
no world's gallery or splits use. The loss is on the change only: reading the captions from
images is what the VDG's align stage teaches. Reproduce the shipped checkpoint with

    python -m vdgray.train.world_lm --out vdgray/assets/world-lm --texts 320000 \\
        --world runs/demo-default/world

(about an hour on 2 CPUs; `--world` only scores the skill on that world's val pairs).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import torch

from vdgray.layout import WORLD_LM

PRETRAIN_WORLD = {"seed": 20_240_415, "two_object_prob": 0.3, "two_change_prob": 0.3}
SIZES = {"hidden": 256, "layers": 4, "heads": 4}  # 4 heads of 64: vLLM's CPU attention serves it


def shipped_dir() -> Path:
    """Where the shipped world LM lives inside the installed package."""
    return Path(__file__).resolve().parents[1] / "assets" / WORLD_LM


def vocabulary_texts(texts: list[str]) -> list[str]:
    """The texts a world tokenizer is built from: these, plus every word the world's
    generator can say (so any world's captions and deltas tokenise without unknowns)."""
    from vdgray.data.synthetic.attributes import VOCAB
    from vdgray.data.synthetic.language import TEMPLATES

    words = [w for vals in VOCAB.values() for w in vals]
    words += [re.sub(r"\{\w+\}", " ", t.text) for ts in TEMPLATES.values() for t in ts]
    words += ["a an on in at the background and bigger smaller much enlarge shrink one"]
    return list(texts) + [" ".join(words)]


def examples(tok, triples, max_length: int = 160):
    """(input ids, labels) per (caption, caption, change): loss on the change and the end."""
    from vdgray.models.vdg.prompt import CHANGE, describe_images
    from vdgray.train.vdg_data import IGNORE, Examples

    ids, labels = [], []
    for a, b, d in triples:
        head = tok(f"{describe_images(a, b)} {CHANGE}")["input_ids"]
        tail = tok(" " + d, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        ids.append((head + tail)[:max_length])
        labels.append(([IGNORE] * len(head) + tail)[:max_length])
    return Examples(ids, labels, [[] for _ in ids], [])


@torch.no_grad()
def changes(model, tok, pairs: list[tuple[str, str]], batch_size: int = 64,
            max_new_tokens: int = 24) -> list[str]:
    """The change the LM writes after "before: <a> after: <b> change:" (greedy)."""
    from vdgray.models.vdg.prompt import CHANGE, describe_images

    model.eval()
    tok.padding_side = "left"
    out = []
    for i in range(0, len(pairs), batch_size):
        prompts = [f"{describe_images(a, b)} {CHANGE}" for a, b in pairs[i:i + batch_size]]
        enc = tok(prompts, return_tensors="pt", padding=True)
        gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                             eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        out += [t.strip() for t in tok.batch_decode(gen[:, enc["input_ids"].shape[1]:],
                                                    skip_special_tokens=True)]
    model.train()
    return out


def score(model, tok, world: str, limit: int = 300) -> dict:
    """Exact match of the LM's change, given the true captions of a world's val pairs."""
    from vdgray import storage
    from vdgray.data.synthetic.attributes import Scene
    from vdgray.data.synthetic.language import change_key, parse_delta
    from vdgray.eval.vdg_metrics import delta_scores
    from vdgray.layout import TRUTH_IMAGES, TRUTH_QUERIES, truth_file

    images = {r["image_id"]: r for r in
              storage.read_parquet(truth_file(world, TRUTH_IMAGES)).to_pylist()}
    val = [q for q in storage.read_parquet(truth_file(world, TRUTH_QUERIES)).to_pylist()
           if q["split"] == "val"][:limit]
    texts = changes(model, tok, [(images[q["reference"]]["caption"],
                                  images[q["target"]]["caption"]) for q in val])
    pred = [parse_delta(t, Scene.from_json(images[q["reference"]]["attributes"]))
            for q, t in zip(val, texts, strict=True)]
    s = delta_scores(pred, [change_key(json.loads(q["changes"])) for q in val])
    return {"exact_match": s["exact_match"], "by_changes": s["exact_match_by_changes"],
            "unparsed": s["unparsed_fraction"], "sample": texts[:3]}


def train(n_texts: int, *, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
          world: str | None = None, eval_every: int = 1000, log=print):
    """(model, tokenizer, history): a fresh world LM trained on `n_texts` prior texts."""
    from transformers import LlamaForCausalLM

    from vdgray.data.synthetic.prior import prior_texts
    from vdgray.models.vdg.build import llama_config, world_tokenizer
    from vdgray.train.vdg_data import collate

    triples = prior_texts(PRETRAIN_WORLD, n_texts)
    tok = world_tokenizer(vocabulary_texts([t for tr in triples[:20000] for t in tr]))
    torch.manual_seed(seed)
    model = LlamaForCausalLM(llama_config(len(tok), tok, hidden=SIZES["hidden"],
                                          layers=SIZES["layers"], heads=SIZES["heads"]))
    ex = examples(tok, triples)
    steps = len(ex) // batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(1, steps),
                                                pct_start=0.03)
    order = np.random.default_rng(seed).permutation(len(ex))
    history, t0, losses = [], time.time(), []
    model.train()
    for step in range(steps):
        b = collate(ex, order[step * batch_size:(step + 1) * batch_size].tolist(),
                    tok.pad_token_id)
        loss = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                     labels=b["labels"]).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            entry = {"step": step + 1, "texts": (step + 1) * batch_size,
                     "loss": float(np.mean(losses[-200:])), "elapsed_s": round(time.time() - t0)}
            if world:
                entry.update(score(model, tok, world))
            history.append(entry)
            log(f"world-lm: step {entry['step']}/{steps} ({entry['texts']:,} texts) "
                f"loss {entry['loss']:.3f}" + (f" exact {entry['exact_match']:.3f} "
                                               f"{entry['by_changes']}" if world else "")
                + f" [{entry['elapsed_s']}s]")
    return model, tok, history


def save(model, tok, out: Path, history: list[dict], config: dict) -> None:
    """An HF causal-LM dir (fp16 weights, tokenizer) + how it was made (world_lm.json)."""
    out.mkdir(parents=True, exist_ok=True)
    model.to(torch.float16).save_pretrained(out)
    tok.save_pretrained(out)
    (out / "world_lm.json").write_text(json.dumps({"config": config, "history": history},
                                                  indent=1))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output dir (the shipped one: vdgray/assets/world-lm)")
    ap.add_argument("--texts", type=int, default=320_000, help="prior texts to train on")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--world", default=None, help="score the skill on this world's val pairs")
    ap.add_argument("--eval-every", type=int, default=1000, help="steps")
    ap.add_argument("--threads", type=int, default=None, help="torch threads")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    model, tok, history = train(a.texts, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                                world=a.world, eval_every=a.eval_every)
    config = {k: v for k, v in vars(a).items() if k not in ("out", "world", "threads")}
    save(model, tok, Path(a.out), history, {**config, **SIZES, "pretrain_world": PRETRAIN_WORLD})
    return {"history": history}


if __name__ == "__main__":
    main()
