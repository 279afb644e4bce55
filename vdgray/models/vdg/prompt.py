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


def prompt_words() -> list[str]:
    """Texts a word-level tokenizer must cover so the prompt has no unknown words."""
    return [SYSTEM, REFERENCE, TARGET, RESPONSE]
