# The bcrnn environment: the project and its pinned Python stack (CPU torch).
# The FINN + Vivado layer (finn-plus, finn-hlslib at FINN's pinned commit, `finn build` with Vivado mounted
# from the host) is added by the FINN compilation issue; until then this image trains, evaluates and tests.
FROM python:3.11.7-slim-bookworm

WORKDIR /opt/bcrnn
COPY pyproject.toml requirements.lock ./
# torch first, pinned to the CPU build: a later resolver would otherwise pull several GB of CUDA wheels
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-cache-dir -r requirements.lock
COPY . .
RUN pip install --no-cache-dir --no-deps -e .

CMD ["python", "training/train.py"]
