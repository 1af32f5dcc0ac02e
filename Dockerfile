# The s3server image: the S3 API and the web console from one package.
FROM python:3.11-slim

WORKDIR /src
COPY pyproject.toml README.md ./
COPY s3server ./s3server
COPY ui ./ui
RUN pip install --no-cache-dir . \
    && useradd --system --create-home --home-dir /home/s3server s3server \
    && mkdir /data && chown s3server:s3server /data

USER s3server
ENV S3SERVER_ADDRESS=0.0.0.0 \
    S3SERVER_DATA_DIR=/data
VOLUME /data
EXPOSE 7841 7881 8080
ENTRYPOINT ["s3server"]
CMD ["serve"]
