"""The per-worker loop of `vdgray train-cir` (runs inside Ray Train workers).

Each worker loads the triplets and images itself, builds the CIR model (same seed, so the
same init; DDP also broadcasts rank 0's weights), and steps through `joint_batches`: one
forward over its local B ⊕ B', then the embeddings of all ranks are gathered with gradients
so the contrastive loss sees every rank's negatives (each rank computes the same full-batch
loss; DDP's gradient averaging then equals the single-process gradient). BLIP adds the TDM
term over the local batch. AdamW, warm-up + cosine schedule, bf16 autocast on GPU. Every
`checkpoint_every` epochs end with a checkpoint (model dir + optimiser state) and a report;
a restarted or resumed run continues after the latest checkpointed epoch.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from vdgray.models.losses import gather, joint_loss, tdm_loss
from vdgray.train.cir_data import (
    PIXEL_CACHE_BYTES,
    ImageTable,
    human_triplets,
    index_triplets,
    joint_batches,
    pseudo_triplets,
    steps_per_epoch,
)
from vdgray.train.schedule import warmup_scheduler
from vdgray.train.worker import (
    TrainWorker,
    check_finite,
    load_train_state,
    save_train_state,
)

FEATURE_CACHE_BYTES = PIXEL_CACHE_BYTES  # the same budget as the pixel cache


def load_data(config: dict, model):
    """(image table, human Triplets, pseudo Triplets | None) for this model's preprocessing."""
    h = config["human"]
    h_table, images = human_triplets(h["format"], h["root"], h.get("categories"), h.get("limit"),
                                     h.get("image_root"))
    p_table = None
    if config["pseudo"] != "none":
        p_table, p_images = pseudo_triplets(config["pseudo"], config["pseudo_gallery"])
        images.update(p_images)
    names = list(images)
    index = {n: i for i, n in enumerate(names)}
    table = ImageTable(names, [images[n] for n in names], model.preprocess)
    human = index_triplets(h_table, index, model.tokenize)
    pseudo = index_triplets(p_table, index, model.tokenize) if p_table is not None else None
    return table, human, pseudo


def build_model(config: dict):
    from vdgray.models.cir import build_cir

    m = config["model"]
    torch.manual_seed(config["seed"])
    return build_cir(m["kind"], m["encoder"], **m.get("settings", {}))


def step_loss(model, batch: dict, n_human: int, config: dict) -> tuple[torch.Tensor, dict]:
    """Forward one local batch (human rows first) and return the training loss and its parts."""
    out = model(**batch)
    core = model.module if hasattr(model, "module") else model
    hn = {"temperature": config["temperature"] or core.default_temperature,
          "alpha": config["alpha"], "beta": config["beta"]}
    q, t = out["query"], out["target"]
    q_h, t_h = gather(q[:n_human]), gather(t[:n_human])
    if len(q) > n_human:
        loss = joint_loss(q_h, t_h, gather(q[n_human:]), gather(t[n_human:]), **hn)
    else:
        loss = joint_loss(q_h, t_h, **hn)
    parts = {"loss_contrastive": float(loss.detach())}
    if "tdm_pos" in out and config["tdm_weight"] > 0:
        tdm = tdm_loss(out["tdm_pos"], out["tdm_neg"])
        loss = loss + config["tdm_weight"] * tdm
        parts["loss_tdm"] = float(tdm.detach())
    return loss, parts


def frozen_features(core, table: ImageTable, device) -> torch.Tensor | None:
    """Every table image's `image_features`, computed once, when the model's vision side does
    not train (CLIP4Cir's stage 2 does the same) and they fit in memory; else None (pixels
    go through the vision tower every step)."""
    if not core.frozen_image_features or not len(table):
        return None
    was_training = core.training
    core.eval()
    chunks = []
    with torch.no_grad():
        for lo in range(0, len(table), 256):
            idx = np.arange(lo, min(lo + 256, len(table)))
            chunks.append(core.image_features(table.pixels(idx).to(device)).detach())
            per_image = chunks[0][0].numel() * chunks[0].element_size()
            if per_image * len(table) > FEATURE_CACHE_BYTES:
                chunks = None
                break
    core.train(was_training)
    return torch.cat(chunks) if chunks else None


def _batch(table: ImageTable, human, pseudo, h_idx, p_idx, device,
           features: torch.Tensor | None = None) -> tuple[dict, int]:
    ref = np.concatenate([human.ref[h_idx]] + ([pseudo.ref[p_idx]] if len(p_idx) else []))
    tgt = np.concatenate([human.tgt[h_idx]] + ([pseudo.tgt[p_idx]] if len(p_idx) else []))
    ids = [human.input_ids[h_idx]] + ([pseudo.input_ids[p_idx]] if len(p_idx) else [])
    mask = [human.attention_mask[h_idx]] + ([pseudo.attention_mask[p_idx]] if len(p_idx) else [])
    batch = {"input_ids": torch.cat(ids), "attention_mask": torch.cat(mask),
             "target_keys": torch.from_numpy(tgt)}
    if features is not None:
        batch["ref_features"] = features[torch.from_numpy(ref)]
        batch["target_features"] = features[torch.from_numpy(tgt)]
    else:
        batch["ref_pixels"], batch["target_pixels"] = table.pixels(ref), table.pixels(tgt)
    return {k: v.to(device) for k, v in batch.items()}, len(h_idx)


def train_loop(config: dict) -> None:
    """Ray Train entry: train; checkpoint and report every `checkpoint_every` epochs."""
    import ray.train.torch

    worker = TrainWorker(config)
    rank, world = worker.rank, worker.world
    model = build_model(config)
    table, human, pseudo = load_data(config, model)
    batch = config["batch_size"]
    pseudo_batch = round(batch * config["pseudo_ratio"]) if pseudo is not None else 0
    steps = steps_per_epoch(len(human), batch, world)
    if steps < 1:
        raise ValueError(f"{len(human)} human triplets are fewer than batch_size x workers "
                         f"({batch} x {world}); lower batch_size")
    device = ray.train.torch.get_device()
    use_amp = config["use_gpu"] and device.type == "cuda"
    ddp = ray.train.torch.prepare_model(
        model, parallel_strategy_kwargs={"find_unused_parameters": True})
    core = ddp.module if hasattr(ddp, "module") else ddp
    features = frozen_features(core, table, device)
    params = [p for p in core.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config["lr"], weight_decay=config["weight_decay"])
    total = config["epochs"] * steps
    sched = warmup_scheduler(opt, total, max(1, int(total * config["warmup"])))

    def restore(d: str) -> dict:
        from vdgray.models.cir import load_cir

        core.load_state_dict(load_cir(d).state_dict())
        return load_train_state(d, opt, sched)

    state = worker.resume(restore)
    start_epoch = state["epoch"] + 1 if state else 0
    if state:
        worker.say(f"train-cir: resuming after epoch {start_epoch}")

    for epoch in range(start_epoch, config["epochs"]):
        t0 = time.time()
        ddp.train()
        losses, parts_sum = [], {}
        for h_idx, p_idx in joint_batches(len(human), len(pseudo) if pseudo else 0, batch,
                                          pseudo_batch, epoch, rank, world, config["seed"]):
            inputs, n_h = _batch(table, human, pseudo, h_idx, p_idx, device, features)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss, parts = step_loss(ddp, inputs, n_h, config)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            for k, v in parts.items():
                parts_sum[k] = parts_sum.get(k, 0.0) + v
        metrics = {"epoch": epoch + 1, "loss": float(np.mean(losses)),
                   **{k: v / len(losses) for k, v in parts_sum.items()},
                   "steps": len(losses), "human_triplets": len(human),
                   "pseudo_triplets": len(pseudo) if pseudo else 0,
                   "epoch_s": time.time() - t0, "lr": float(sched.get_last_lr()[0]),
                   "resumed_from_epoch": start_epoch}
        check_finite(metrics["loss"], f"epoch {epoch + 1}")
        worker.say(f"train-cir: epoch {epoch + 1}/{config['epochs']} loss {metrics['loss']:.4f} "
                   f"({len(losses)} steps of {batch}+{pseudo_batch} x {world} workers) "
                   f"{metrics['epoch_s']:.1f}s")

        def write(tmp: str, epoch: int = epoch) -> None:
            core.eval()
            core.save(tmp)
            save_train_state(tmp, opt, sched, epoch=epoch)

        # only checkpointed epochs are reported (TrainWorker.report says why)
        every = int(config.get("checkpoint_every") or 1)
        if epoch + 1 == config["epochs"] or (epoch + 1) % every == 0:
            worker.report(metrics, write)
