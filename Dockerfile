# vdgray image: Ray 2.60 (Python 3.11) + torch + the vdgray package; the repo lives at /app.
# One Dockerfile, two variants (the k8s overlays expect these tags; push to your own registry
# and point the overlay's `images:` at it, see k8s/README.md):
#
#   GPU (default; head, CPU and GPU workers can all run it):
#     docker build -t ghcr.io/vdgray/vdgray:0.1.0 .
#   CPU only (much smaller; dev overlay, CI, CPU-only clusters):
#     docker build --build-arg BASE_IMAGE=rayproject/ray:2.60.0-py311 \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu \
#       -t ghcr.io/vdgray/vdgray:0.1.0-cpu .
#   With vLLM / faiss-gpu (optional `gpu` extra; vLLM then picks its own torch build):
#     docker build --build-arg EXTRAS="[gpu]" -t ghcr.io/vdgray/vdgray:0.1.0-vllm .
#
# A cluster runs one image everywhere: Ray needs the same Python and Ray version on every
# node, so the GPU image is used for CPU workers too in prod (they simply see no GPU).
ARG BASE_IMAGE=rayproject/ray:2.60.0-py311-gpu
FROM ${BASE_IMAGE}

# rayproject/ray images do not include torch. Install it first so `pip install .` finds it
# satisfied: the default PyPI wheel brings CUDA libraries; the CPU index keeps the image small.
ARG TORCH_INDEX_URL=https://pypi.org/simple
ARG TORCH_SPEC="torch>=2.3"
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "${TORCH_SPEC}"

# The base image runs as user `ray` (group `users`); give it the app folder.
USER root
RUN mkdir -p /app && chown ray:users /app
USER ray
WORKDIR /app

COPY --chown=ray:users . /app
# Pin ray to the base image's version so installing the package never replaces it.
ARG RAY_VERSION=2.60.0
ARG EXTRAS=""
RUN pip install --no-cache-dir ".${EXTRAS}" "ray[data,train,serve]==${RAY_VERSION}" \
    && python -c "import vdgray, ray; assert ray.__version__ == '${RAY_VERSION}', ray.__version__"

ENV PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1
