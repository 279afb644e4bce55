"""The per-worker training loop of `vdgray train-encoder` (runs inside Ray Train workers).

Every worker loads the (small) world itself, builds the same word tokenizer from the same
captions (deterministic ids, so nothing is shipped from the driver), and trains the CLIP with
its own contrastive loss (`return_loss=True`, over each worker's local batch) under DDP.
Each epoch ends with a checkpoint (HF model dir + optimiser state) and a report of the loss
and the held-out R@K; a restarted or resumed run continues from the latest checkpoint.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from vdgray.train.encoder_data import load_pairs, recall_at_k, split_holdout
from vdgray.train.encoder_render import (
    pretrain_renderer,
    render_batch,
    rendered_batches,
    vocabulary_captions,
    world_scenes,
    zero_shot_attributes,
)
from vdgray.train.encoder_scene_head import (
    ClipWithSceneHead,
    SceneHead,
    head_accuracy,
    scene_labels,
)
from vdgray.train.schedule import warmup_scheduler
from vdgray.train.worker import (
    TrainWorker,
    check_finite,
    load_train_state,
    save_train_state,
)

IMAGE_SIZE = 64


def build_model(config: dict, tokenizer):
    """A fresh world CLIP sized by the config (same seed -> same init on every rank)."""
    from transformers import CLIPModel

    from vdgray.models.encoders import clip_config

    cfg = clip_config(
        len(tokenizer), pad_id=tokenizer.pad_token_id, bos_id=tokenizer.bos_token_id,
        eos_id=tokenizer.eos_token_id, image_size=IMAGE_SIZE, patch_size=config["patch_size"],
        hidden=config["hidden"], layers=config["layers"], heads=config["heads"],
        max_position=config["max_length"], projection_dim=config["projection_dim"],
    )
    torch.manual_seed(config["seed"])
    return CLIPModel(cfg)


def _tensors(pairs, encoder_like):
    pixels = encoder_like.preprocess(pairs.images)
    tok = encoder_like.tokenize(pairs.captions)
    return pixels, tok["input_ids"], tok["attention_mask"]


def train_loop(config: dict) -> None:
    """Ray Train entry: train, evaluate and checkpoint once per epoch."""
    import ray.train.torch
    from torch.utils.data import DataLoader, TensorDataset

    from vdgray.models.encoders import Encoder, image_processor
    from vdgray.models.tokenizer import build_word_tokenizer

    worker = TrainWorker(config)
    rank = worker.rank
    pairs = load_pairs(config["world"])
    train_idx, hold_idx = split_holdout(len(pairs.image_ids), config["holdout"], config["seed"])
    train, hold = pairs.take(train_idx), pairs.take(hold_idx)
    renderer = pretrain_renderer(config["world_config"]) if config["rendered_pairs"] else None
    extra = vocabulary_captions(renderer) if renderer else []
    tokenizer = build_word_tokenizer(train.captions + extra)
    model = build_model(config, tokenizer)
    enc = Encoder(model, tokenizer, image_processor(IMAGE_SIZE), "world-clip")
    pixels, ids, mask = _tensors(train, enc)
    h_pixels, _, _ = _tensors(hold, enc)
    hold_scenes = world_scenes(hold.attributes)  # None for a hand-made gallery: no probes
    head = gallery_labels = hold_labels = None
    if config["scene_loss"] > 0:
        scenes = world_scenes(train.attributes)
        if scenes is None:
            raise ValueError(f"scene_loss: {config['world']}/captions has no world scene "
                             "attributes to learn from (set scene_loss=0)")
        gallery_labels = scene_labels(scenes)
        hold_labels = scene_labels(hold_scenes)
        head = SceneHead(config["hidden"], IMAGE_SIZE, config["patch_size"])

    loader = DataLoader(TensorDataset(pixels, ids, mask, torch.arange(len(pixels))),
                        batch_size=config["batch_size"], shuffle=True, drop_last=True,
                        # saved in the checkpoints: a resumed run shuffles as an unbroken one
                        generator=worker.track("loader",
                                               torch.Generator().manual_seed(config["seed"])))
    loader = ray.train.torch.prepare_data_loader(loader)
    ddp_model = ray.train.torch.prepare_model(ClipWithSceneHead(model, head))
    wrapper = ddp_model.module if hasattr(ddp_model, "module") else ddp_model
    core = wrapper.clip
    opt = torch.optim.AdamW(ddp_model.parameters(), lr=config["lr"],
                            weight_decay=config["weight_decay"])
    world = worker.world
    device = ray.train.torch.get_device()

    def epoch_plan(epoch: int) -> list:
        """Gallery batches (None: next from the loader) and rendered index ranges, interleaved
        in the same seeded order on every rank, so DDP ranks step together."""
        rendered = rendered_batches(renderer, per_epoch=config["rendered_pairs"],
                                    batch=config["batch_size"], epoch=epoch, rank=rank,
                                    world=world) if renderer else []
        plan = [None] * len(loader) + rendered
        order = np.random.default_rng([config["seed"], 17, epoch]).permutation(len(plan))
        return [plan[i] for i in order]

    steps = config["epochs"] * max(1, len(epoch_plan(0)))
    sched = warmup_scheduler(opt, steps, max(1, steps // 10))

    def restore(d: str) -> dict:
        from transformers import CLIPModel

        core.load_state_dict(CLIPModel.from_pretrained(d).state_dict())
        state = load_train_state(d, opt, sched)
        if wrapper.head is not None and state.get("scene_head"):
            wrapper.head.load_state_dict(state["scene_head"])
        return state

    state = worker.resume(restore)
    start_epoch = resumed_from = state["epoch"] + 1 if state else 0
    if state:
        worker.say(f"train-encoder: resuming after epoch {start_epoch}")

    for epoch in range(start_epoch, config["epochs"]):
        t0 = time.time()
        if hasattr(loader, "sampler") and hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        ddp_model.train()
        losses, scene_losses = [], []
        gallery_batches = iter(loader)
        for item in epoch_plan(epoch):
            labels = None
            if item is None:
                px, ii, am, rows = next(gallery_batches)
                if gallery_labels is not None:
                    labels = {k: v[rows.cpu()].to(px.device) for k, v in gallery_labels.items()}
            else:
                images, captions = render_batch(renderer, item)
                px = enc.preprocess(images)
                tok = enc.tokenize(captions)
                px, ii, am = (t.to(device) for t in (px, tok["input_ids"], tok["attention_mask"]))
                if head is not None:
                    labels = {k: v.to(device) for k, v in
                              scene_labels([renderer.scene(int(i)) for i in item]).items()}
            loss, scene = ddp_model(ii, am, px, labels)
            total = loss if scene is None else loss + config["scene_loss"] * scene
            opt.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(ddp_model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            if scene is not None:
                scene_losses.append(float(scene.detach()))
        ddp_model.eval()
        img = torch.cat([enc.encode_images(h_pixels[i:i + 256]) for i in range(0, len(h_pixels), 256)])
        txt = enc.encode_texts(hold.captions)
        rec = recall_at_k(txt, img, hold.captions)
        zs = zero_shot_attributes(enc, img, hold_scenes)
        if head is not None:
            with torch.no_grad():
                hs = core.vision_model(pixel_values=h_pixels.to(device), output_hidden_states=True)
            zs.update(head_accuracy(head, hs.hidden_states[wrapper.feature_layer][:, 1:],
                                    {k: v.to(device) for k, v in hold_labels.items()}))
        scene_metric = {"scene_loss": float(np.mean(scene_losses))} if scene_losses else {}
        metrics = {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else float("nan"),
                   **rec, **zs, **scene_metric,
                   "train_pairs": len(train_idx), "holdout_pairs": len(hold_idx),
                   "rendered_pairs_per_epoch": config["rendered_pairs"],
                   "resumed_from_epoch": resumed_from, "epoch_s": time.time() - t0}
        check_finite(metrics["loss"], f"epoch {epoch + 1}")
        if rank == 0:
            scene_txt = f" scene {metrics['scene_loss']:.3f}" if scene_losses else ""
            worker.say(f"train-encoder: epoch {epoch + 1}/{config['epochs']} loss {metrics['loss']:.3f}"
                  f"{scene_txt} "
                  f"held-out R@1 {rec['R@1']:.3f} R@5 {rec['R@5']:.3f} "
                  f"(chance {rec['chance_R@1']:.3f}/{rec['chance_R@5']:.3f}) zero-shot "
                  + " ".join(f"{k.split('_', 1)[1]} {v:.2f}" for k, v in zs.items()
                             if k.startswith("zs_"))
                  + (" head " + " ".join(f"{k[5:]} {v:.2f}" for k, v in zs.items()
                                          if k.startswith("head_")) if head is not None else "")
                  + f" {metrics['epoch_s']:.1f}s")

        def write(tmp: str, epoch: int = epoch) -> None:
            enc.save(tmp)
            save_train_state(tmp, opt, sched, epoch=epoch,
                             scene_head=head.state_dict() if head is not None else None)

        worker.report(metrics, write)
