# The bcrnn image: the project, its pinned Python stack (CPU torch), finn-plus, and FINN's non-Python
# dependencies (finn-hlslib, board files, ...) fetched at the commits finn-plus pins. Vivado/Vitis are not in the
# image: mount them from the host (finn_build/README.md), e.g.
#   docker build -t bcrnn .
#   docker run --rm -it -v /tools/Xilinx:/tools/Xilinx -e XILINX_VERSION=2024.2 -v "$PWD/runs:/opt/bcrnn/runs" \
#       -v "$PWD/build:/opt/bcrnn/build" bcrnn python finn_build/build.py runs/<run> --vivado
FROM python:3.11.7-slim-bookworm

# git: FINN's dependencies; g++/make: HLS C simulation, FINN's cppsim and its XSI simulator bindings
RUN apt-get update \
    && apt-get install -y --no-install-recommends git=1:2.39.* g++=4:12.2.* make=4.3-* ca-certificates=20230311* \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/bcrnn
COPY pyproject.toml requirements.lock requirements-nodeps.txt ./
# torch first, pinned to the CPU build: a later resolver would otherwise pull several GB of CUDA wheels
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-cache-dir -r requirements.lock \
    && pip install --no-cache-dir --no-deps -r requirements-nodeps.txt
COPY . .
ENV FINN_DEPS=/opt/finn-deps \
    FINN_BUILD_DIR=/tmp/finn_build \
    FINN_SETTINGS=/opt/bcrnn/build/finn_settings.yaml
RUN pip install --no-cache-dir --no-deps -e . \
    && python finn_build/fetch_finn_deps.py "$FINN_DEPS"

ENTRYPOINT ["/opt/bcrnn/finn_build/docker-entrypoint.sh"]
CMD ["python", "training/train.py"]
