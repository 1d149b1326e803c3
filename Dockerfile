# gongkai: one image for the API and the Celery worker (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# OCR for scanned reports (with the Simplified Chinese model) and poppler for PDF rendering.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-chi-sim poppler-utils \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# README.md is the package's readme; the glob keeps the build working if it is absent.
COPY pyproject.toml README.m[d] ./
COPY report ./report
COPY extract ./extract
COPY api ./api
COPY workers ./workers
COPY storage ./storage
COPY gongkai ./gongkai
COPY examples ./examples
RUN touch README.md && pip install .

RUN useradd --system --uid 10001 --home-dir /app gongkai
USER gongkai

ENV GONGKAI_API_HOST=0.0.0.0 \
    GONGKAI_API_PORT=8000 \
    GONGKAI_DATA_DIR=/tmp/gongkai
EXPOSE 8000
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
