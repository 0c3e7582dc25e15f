# The BGZF worker's image for AWS Batch: slim Python, this package without its Airflow
# dependencies, and what the worker imports (boto3, and libdeflate through deflate), at the
# versions uv.lock pins. Credentials come from the job's task role; the image holds no keys.
#   docker build -f docker/bgzip-worker.Dockerfile -t bgzip-worker .
FROM python:3.11-slim
COPY pyproject.toml README.md /src/
COPY airflow_provider_bio /src/airflow_provider_bio
RUN pip install --no-cache-dir --no-deps /src \
    && pip install --no-cache-dir boto3==1.44.5 deflate==0.9.0 \
    && rm -rf /src
USER 65534
ENTRYPOINT ["python", "-m", "airflow_provider_bio.jobs.bgzip_worker"]
