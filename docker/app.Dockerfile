# The demo's stand-in contact-center app: Python's standard library only.
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY demo/app.py demo/users.txt ./

EXPOSE 8081
CMD ["python3", "app.py", "--host", "0.0.0.0", "--port", "8081", \
     "--users", "users.txt", "--admin-api", "http://edge:8080/twofa-admin/", \
     "--admin-token-file", "/etc/twofa/admin-token"]
