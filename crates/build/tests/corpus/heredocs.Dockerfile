# syntax=docker/dockerfile:1.7
FROM debian:12-slim
RUN <<EOF
set -eu
apt-get update
apt-get install -y --no-install-recommends nginx-light
rm -rf /var/lib/apt/lists/*
EOF
COPY <<-"CONF" /etc/nginx/conf.d/default.conf
	server {
	    listen 8080;
	    root /srv/www;
	}
	CONF
RUN cat <<INDEX >/srv/index.html && cat <<'ROBOTS' >/srv/robots.txt
<h1>hello from $HOSTNAME</h1>
INDEX
User-agent: *
ROBOTS
RUN <<PY python3 2>/dev/null || true
print("heredoc fed to a program")
PY
USER www-data
CMD ["nginx", "-g", "daemon off;"]
