"""Encoders from directories transformers itself wrote: each family gets its own preprocessing.

The pixel-equality test is the guard against a silent 224-vs-384 (BLIP once got a CLIP
processor's resize-and-crop): vdgray's preprocessing must equal the model's own processor,
loaded by transformers' `AutoProcessor`, for every family and both save layouts.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers.hub_models import LAYOUTS, SAVERS
from PIL import Image

from vdgray.errors import DataFormatError
from vdgray.models.registry import encoder_info, load_encoder


def _images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
            for h, w in ((50, 70), (64, 40), (33, 33))]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("family", sorted(SAVERS))
def test_preprocessing_equals_the_models_own_processor(tmp_path, family, layout):
    from transformers import AutoProcessor

    path = SAVERS[family](tmp_path / family, layout=layout)
    if layout == "processor":
        assert not (path / "preprocessor_config.json").exists()
    own = AutoProcessor.from_pretrained(path)(images=_images(), return_tensors="np")
    enc = load_encoder(str(path))
    ours = enc.preprocess(_images()).numpy()
    assert ours.shape == own["pixel_values"].shape
    np.testing.assert_array_equal(ours, own["pixel_values"])
    processor, size, dim, _ = encoder_info(str(path))  # what embed's decode tasks use
    np.testing.assert_array_equal(
        processor(images=_images(), return_tensors="np")["pixel_values"], own["pixel_values"])
    assert (size, dim) == (enc.image_size, enc.dim)


def test_blip_keeps_its_own_size_and_a_clip_its_crop(tmp_path):
    blip = load_encoder(str(SAVERS["blip"](tmp_path / "blip")))
    assert blip.preprocess(_images()).shape[-2:] == (48, 48)
    clip = load_encoder(str(SAVERS["clip"](tmp_path / "clip")))
    assert clip.preprocess(_images()).shape[-2:] == (32, 32)


@pytest.mark.parametrize("family", sorted(SAVERS))
def test_every_family_embeds_images_and_texts_in_one_normalised_space(tmp_path, family):
    enc = load_encoder(str(SAVERS[family](tmp_path / family)))
    img = enc.encode_images(enc.preprocess(_images()))
    txt = enc.encode_texts(["make it red", "a blue star on the left"])
    assert img.shape == (3, enc.dim) and txt.shape == (2, enc.dim)
    torch.testing.assert_close(img.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(txt.norm(dim=-1), torch.ones(2))
    assert enc.dual == (family != "blip")


def test_siglip_texts_are_padded_to_its_length_and_masked_as_it_was_trained(tmp_path):
    enc = load_encoder(str(SAVERS["siglip"](tmp_path / "siglip")))
    tok = enc.tokenize(["make it red"])
    assert tok["input_ids"].shape == (1, 16)
    assert tok["attention_mask"].shape == (1, 16)


def test_naflex_siglip2_is_refused_with_the_reason(tmp_path):
    path = SAVERS["siglip"](tmp_path / "m")
    cfg = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps(cfg | {"model_type": "siglip2"}))
    with pytest.raises(DataFormatError, match=r"config.json: model_type 'siglip2'.*NaFlex"):
        load_encoder(str(path))


def test_a_model_without_an_image_processor_names_both_files(tmp_path):
    path = SAVERS["clip"](tmp_path / "m")
    (path / "preprocessor_config.json").unlink()
    with pytest.raises(DataFormatError, match="preprocessor_config.json, or processor_config"):
        load_encoder(str(path))


def test_an_unknown_model_type_lists_what_is_read(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(DataFormatError, match=r"'bert' is not an encoder vdgray reads \(clip, siglip, blip\)"):
        load_encoder(str(tmp_path))
