"""The per-worker loop of `vdgray train-vdg` (one loop for the lm, align and instruct stages).

Every worker loads the input VDG dir and its stage's data itself, encodes each image once with
the frozen vision tower, and trains the stage's parameters under DDP with gradient
accumulation and a warm-up + cosine/step schedule. Batches follow a per-epoch permutation
fixed by the seed, so a run resumed from a checkpoint at step S skips exactly the first S
optimizer steps. Checkpoints hold only the trainable tensors + optimizer/scheduler state.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch

from vdgray.train.schedule import warmup_scheduler
from vdgray.train.vdg_data import cirr_root, pixel_values, split_examples
from vdgray.train.worker import TrainWorker, check_finite, load_train_state, save_train_state

TRAINABLE = "trainable.pt"


def stage_model(config: dict):
    """Load the input VDG, add LoRA for `instruct`, freeze all but the stage's parameters."""
    from vdgray.models.checkpoint import local_model_dir
    from vdgray.models.vdg.build import load_vdg
    from vdgray.models.vdg.stages import add_lora, set_trainable

    model, processor = load_vdg(local_model_dir(config["model"]))
    if config["stage"] == "instruct":
        lora = config["lora"]
        add_lora(model, lora["r"], lora["alpha"], lora["dropout"], lora["target_modules"])
    set_trainable(model, config["stage"], config.get("unfreeze_lm", False))
    return model, processor


def stage_examples(config: dict, model, processor):
    """(Examples, pixel values of their image table) for the configured stage."""
    from vdgray.data.synthetic.texts import world_texts
    from vdgray.train import vdg_data as D

    tok = processor.tokenizer
    n_img = int(model.config.image_seq_length)
    limit = config.get("limit")
    if config["stage"] == "lm":
        texts = world_texts(config["world"])
        if limit:
            texts = texts[:limit]
        return D.lm_examples(texts, tok, config["max_length"]), None
    if config["stage"] == "align":
        from vdgray.train.encoder_data import load_pairs

        pairs = load_pairs(config["world"])
        if limit:
            pairs = pairs.take(range(min(limit, len(pairs.image_ids))))
        ex = D.align_examples(pairs.images, pairs.captions, tok, n_img, config["max_length"])
        if config.get("text_mix"):
            text = D.lm_examples(human_deltas(config) * int(config["text_mix"]), tok,
                                 config["max_length"])
            ex = D.concat(ex, text, [])
        ex = D.concat(ex, *prior_parts(config, tok, n_img))
    else:  # instruct: the human triplets (+ the language prior rehearsed as text)
        ex = split_examples(config, config["split"], limit, tok, n_img)
        ex = D.concat(ex, *prior_parts({**config, "rendered_pairs": 0}, tok, n_img))
    return ex, pixel_values(processor, ex.image_bytes)


def prior_parts(config: dict, tok, n_img: int):
    """align's world priors (`prior_texts`, `rendered_pairs`; data/synthetic/prior.py) as
    examples, and the rendered images they add to the image table."""
    from vdgray import manifest
    from vdgray.data.synthetic import prior
    from vdgray.layout import SYNTH_STAGE
    from vdgray.train import vdg_data as D

    n_text, n_pairs = int(config.get("prior_texts") or 0), int(config.get("rendered_pairs") or 0)
    ex = D.Examples([], [], [], [])
    if not (n_text or n_pairs):
        return ex, []
    world_cfg = manifest.read_manifest(config["world"], SYNTH_STAGE)["config"]
    if n_text:
        ex = D.concat(ex, D.prior_examples(prior.prior_texts(world_cfg, n_text), tok,
                                           config["max_length"]), [])
    if n_pairs:
        images, pairs, captions = prior.rendered_pairs(world_cfg, n_pairs)
        ex = D.concat(ex, D.described_pair_examples(pairs, captions, tok, n_img,
                                                    config["max_length"]), images)
    # the caller's concat shifts these rows past its own table
    return D.Examples(ex.input_ids, ex.labels, ex.images, []), ex.image_bytes


def human_deltas(config: dict) -> list[str]:
    """The human delta texts of the configured CIRR split (align's `text_mix`)."""
    from vdgray.data.cirr import load_cirr

    return [q.caption for q in load_cirr(cirr_root(config), config["split"],
                                         image_root=config.get("image_root")).queries]


def reading_probe(config: dict, model, processor):
    """(align examples, features) of held-out world images for `caption_word_accuracy`, or
    None (not the align stage, or not a synthetic world)."""
    from vdgray.data.cirr import load_cirr
    from vdgray.models.vdg.stages import vision_features
    from vdgray.train import vdg_data as D
    from vdgray.train.vdg_probe import heldout_captions

    if config["stage"] != "align" or not config.get("world"):
        return None
    held = heldout_captions(config["world"])
    if not held or not held[0]:
        return None
    names, captions = held
    split = load_cirr(cirr_root(config), "val", image_root=config.get("image_root"))
    ex = D.align_examples([b""] * len(names), captions, processor.tokenizer,
                          int(model.config.image_seq_length), config["max_length"])
    return ex, vision_features(model, pixel_values(processor, [split.read_image(n) for n in names]))


def _batches(n: int, epoch: int, config: dict, rank: int, world: int) -> list[list[int]]:
    perm = np.random.default_rng(config["seed"] + epoch).permutation(n)
    per_rank = n // world
    shard = perm[rank * per_rank:(rank + 1) * per_rank] if world > 1 else perm
    bs = config["batch_size"]
    return [shard[i:i + bs].tolist() for i in range(0, len(shard) - bs + 1, bs)] or [shard.tolist()]


def train_loop(config: dict) -> None:
    """Ray Train entry: train the stage, checkpoint every epoch (and every N steps)."""
    import ray.train.torch

    from vdgray.models.vdg.stages import (
        VdgForward,
        load_trainable,
        trainable_state,
        vision_features,
    )
    from vdgray.train.vdg_data import collate
    from vdgray.train.vdg_heldout import heldout_metrics, heldout_pairs
    from vdgray.train.vdg_probe import caption_word_accuracy, word_categories

    worker = TrainWorker(config)
    torch.manual_seed(config["seed"])
    rank, world = worker.rank, worker.world
    model, processor = stage_model(config)
    examples, pixels = stage_examples(config, model, processor)
    device = ray.train.torch.get_device()
    model.to(device)
    feats = vision_features(model, pixels) if pixels is not None else None
    pad = processor.tokenizer.pad_token_id

    probe = reading_probe(config, model, processor)
    if probe:
        probe = (probe[0], probe[1].to(device))
    categories = word_categories(processor.tokenizer) if probe else {}
    heldout = heldout_pairs(config, model, processor)
    if heldout:
        heldout = (heldout[0], heldout[1].to(device))
    forward = VdgForward(model)
    module = ray.train.torch.prepare_model(forward)
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config["lr"], weight_decay=config["weight_decay"])
    accum = config["grad_accum"]
    per_epoch = max(1, len(_batches(len(examples), 0, config, rank, world)) // accum)
    total = config["epochs"] * per_epoch
    sched = warmup_scheduler(opt, total, max(1, int(total * config["warmup_ratio"])),
                             config["schedule"], config["step_size"] or per_epoch,
                             config["gamma"])

    def restore(d: str) -> dict:
        load_trainable(model, torch.load(os.path.join(d, TRAINABLE), weights_only=True))
        return load_train_state(d, opt, sched)

    step, resumed, history, first_loss = 0, False, [], None
    state = worker.resume(restore)
    if state:
        step, resumed = int(state["step"]), True
        history, first_loss = list(state.get("history", [])), state.get("first_loss")
        worker.say(f"train-vdg[{config['stage']}]: resuming from step {step}")
    start_step = step
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16)
                if config["bf16"] and device.type == "cuda" else torch.autocast("cpu", enabled=False))

    def write(tmp: str) -> None:
        torch.save(trainable_state(model), os.path.join(tmp, TRAINABLE))
        save_train_state(tmp, opt, sched, step=step, history=history, first_loss=first_loss)

    def save(metrics: dict) -> None:
        worker.report(metrics, write)

    for epoch in range(step // per_epoch, config["epochs"]):
        t0, losses = time.time(), []
        module.train()
        batches = _batches(len(examples), epoch, config, rank, world)[:per_epoch * accum]
        for k in range(0, len(batches), accum):
            if epoch * per_epoch + k // accum < step:
                continue  # done before the checkpoint this run resumed from
            opt.zero_grad(set_to_none=True)
            acc_loss = 0.0
            for idx in batches[k:k + accum]:
                b = collate(examples, idx, pad)
                f = feats[b["image_rows"]].to(device) if feats is not None else None
                with autocast:
                    loss = module(b["input_ids"].to(device), b["attention_mask"].to(device),
                                  b["labels"].to(device), f) / accum
                loss.backward()
                acc_loss += float(loss.detach())
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            losses.append(acc_loss)
            first_loss = acc_loss if first_loss is None else first_loss
            check_finite(acc_loss, f"step {step}")
            fail = config.get("fail_at_step")
            if fail and not resumed and step == fail:
                raise RuntimeError(f"injected failure at step {step} (fail_at_step)")
            every = config["checkpoint_every"]
            if every and step % every == 0 and step % per_epoch:
                save({"epoch": epoch + 1, "step": step, "loss": float(np.mean(losses)),
                      "first_loss": first_loss, "start_step": start_step})
        mean = float(np.mean(losses)) if losses else float("nan")
        history.append(mean)
        reads = (caption_word_accuracy(forward, *probe, categories, pad)
                 if probe else {})
        if heldout:
            reads.update(heldout_metrics(forward, heldout, pad))
        if rank == 0:
            read = "".join(f" {k} {v:.2f}" if k.startswith("read_") else f" {k} {v:.4f}"
                           for k, v in reads.items())
            worker.say(f"train-vdg[{config['stage']}]: epoch {epoch + 1}/{config['epochs']} "
                  f"step {step}/{total} loss {mean:.4f}{read} lr {sched.get_last_lr()[0]:.2e} "
                  f"{time.time() - t0:.1f}s")
        save({"epoch": epoch + 1, "step": step, "loss": mean, "first_loss": first_loss,
              "first_epoch_loss": history[0], "start_step": start_step,
              "examples": len(examples), "total_steps": total, **reads})
