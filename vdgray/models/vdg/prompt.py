"""The one VDG prompt, shared by training, transformers generation and vLLM serving.

The paper's prompt is a system text followed by "Reference: <image tokens> Target: <image
tokens> Response: <delta>". `build_prompt` writes it as plain text with one `<image>`
placeholder per image (the LLaVA processor expands each into the vision tower's patch
tokens); `chat_messages` is the same prompt as chat messages with two image parts (what vLLM
is given), and `CHAT_TEMPLATE` (saved with the processor) renders those messages back to
exactly `build_prompt()`, so the three paths cannot drift apart. A unit test pins that.
"""

from __future__ import annotations

IMAGE_TOKEN = "<image>"
SYSTEM = "Describe the change that turns the reference image into the target image."
REFERENCE, TARGET, RESPONSE = "Reference:", "Target:", "Response:"

# Decoding settings of the paper (temperature 0.2, top-k 50, at most 32 new tokens).
TEMPERATURE = 0.2
TOP_K = 50
MAX_NEW_TOKENS = 32

# What the model writes after "Response:". `delta` is the paper's: the change alone. `describe`
# (synthetic world only) first describes each image, then states the change:
# "before: <reference caption> after: <target caption> change: <delta>". A small
# from-scratch LM cannot compare two grids of image tokens from a few hundred triplets, but it
# can caption one image (align teaches that on free rendered data) and learn to diff two
# captions from text alone (the world's language prior). Only the delta is ever stored.
DELTA, DESCRIBE = "delta", "describe"
RESPONSE_FORMATS = (DELTA, DESCRIBE)
BEFORE, AFTER, CHANGE = "before:", "after:", "change:"
RESPONSE_FORMAT_KEY = "vdg_response_format"  # in the VDG's config.json (absent: delta)
# New tokens a describe response needs: two captions of up to ~24 words each, the change.
DESCRIBE_MAX_NEW_TOKENS = 80

# Renders [{"role": ..., "content": [{"type": "text", "text": ...} | {"type": "image"}]}] as the
# parts joined by single spaces, an image part as the image placeholder. Roles carry no text,
# so the rendering equals build_prompt() for chat_messages().
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['content'] is string -%}"
    "{%- if not loop.first %} {% endif -%}{{ message['content'] }}"
    "{%- else -%}"
    "{%- set outer_first = loop.first -%}"
    "{%- for part in message['content'] -%}"
    "{%- if not (outer_first and loop.first) %} {% endif -%}"
    "{%- if part['type'] == 'image' or part['type'] == 'image_url' -%}" + IMAGE_TOKEN +
    "{%- else -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
)


def prompt_parts() -> list[dict]:
    """The prompt as content parts: text, image (reference), text, image (target), text."""
    return [
        {"type": "text", "text": f"{SYSTEM} {REFERENCE}"},
        {"type": "image"},
        {"type": "text", "text": TARGET},
        {"type": "image"},
        {"type": "text", "text": RESPONSE},
    ]


def build_prompt(delta: str | None = None) -> str:
    """The text prompt with two image placeholders; with `delta`, the full training text."""
    text = " ".join(IMAGE_TOKEN if p["type"] == "image" else p["text"] for p in prompt_parts())
    return text if delta is None else f"{text} {delta.strip()}"


def chat_messages() -> list[dict]:
    """The prompt as chat messages (one user turn with two image parts) for vLLM's chat API."""
    return [{"role": "user", "content": prompt_parts()}]


def caption_prompt(caption: str | None = None) -> str:
    """Stage-1 (alignment) text: one image placeholder, then its caption."""
    return IMAGE_TOKEN if caption is None else f"{IMAGE_TOKEN} {caption.strip()}"


def describe_images(reference_caption: str, target_caption: str) -> str:
    """The first part of a `describe` response: both images described."""
    return f"{BEFORE} {reference_caption.strip()} {AFTER} {target_caption.strip()}"


def describe_response(reference_caption: str, target_caption: str, delta: str) -> str:
    """The `describe` response: both images described, then the change."""
    return f"{describe_images(reference_caption, target_caption)} {CHANGE} {delta.strip()}"


def delta_of(response: str, response_format: str = DELTA) -> str:
    """The delta a response states: the whole text (`delta`), or what follows the last
    "change:" (`describe`; "" when the model never got there)."""
    if response_format == DELTA:
        return response.strip()
    head, sep, tail = response.rpartition(CHANGE)
    return tail.strip() if sep else ""


def response_format(config) -> str:
    """The response format a VDG's config records (`delta` when it records none)."""
    fmt = getattr(config, RESPONSE_FORMAT_KEY, None) or DELTA
    if fmt not in RESPONSE_FORMATS:
        raise ValueError(f"{RESPONSE_FORMAT_KEY}: {fmt!r} is not one of {RESPONSE_FORMATS}")
    return fmt


def max_new_tokens_for(response_format_name: str, requested: int | None) -> int:
    """New tokens to generate: as requested, else what the response format needs."""
    if requested is not None:
        return requested
    return DESCRIBE_MAX_NEW_TOKENS if response_format_name == DESCRIBE else MAX_NEW_TOKENS


def prompt_words() -> list[str]:
    """Texts a word-level tokenizer must cover so the prompt has no unknown words."""
    return [SYSTEM, REFERENCE, TARGET, RESPONSE, BEFORE, AFTER, CHANGE]
