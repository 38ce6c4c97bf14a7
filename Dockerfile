# The image of the runpod-ssh-action container action.
#
# The base is a build argument so that the image can also be built from a locally made
# Debian bookworm root file system where no registry can be reached (the container test
# does that); users and the release workflow get the default, debian:bookworm-slim. The
# default names a stage rather than the image because dependabot only updates an image
# written out on a FROM line; an unused stage is never pulled.
#
# The base is pinned by the digest of its multi-arch index, so that a user who pins the
# action's commit also pins every byte it is built from; dependabot (the docker
# ecosystem in .github/dependabot.yml) moves the digest when Debian publishes a new
# build. This one is debian:bookworm-slim of 2026-09-18 (docker-library/repo-info,
# repos/debian/remote/bookworm-slim.md).
ARG BASE_IMAGE=debian-bookworm-slim
FROM debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251 AS debian-bookworm-slim

FROM ${BASE_IMAGE} AS build

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

# Debian's own python3 keeps the image on one distribution's security updates. Package
# versions are not pinned: bookworm only ever moves to security fixes, and a pinned
# version disappears from the mirror when the next fix lands.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

# Every file pip fetches is checked against requirements.lock's hashes, and only wheels are
# accepted, so nothing is compiled in the image. The optional `ca-bundle` build secret lets
# a build behind a TLS-inspecting proxy reach the package index without baking the proxy's
# CA into a layer.
COPY requirements.lock /tmp/requirements.lock
RUN --mount=type=secret,id=ca-bundle,required=false \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r /tmp/requirements.lock

COPY pyproject.toml README.md /src/
COPY src /src/src
# The dependencies are already in place from the lock, so the package itself brings none;
# `pip check` then proves the lock satisfies it. The build tools leave the venv afterwards.
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation /src \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/pip uninstall -y setuptools wheel pip

FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="runpod-ssh-action" \
      org.opencontainers.image.description="Rent RunPod GPU pods for GitHub Actions: ephemeral self-hosted runners over SSH, with nothing left running." \
      org.opencontainers.image.licenses="MIT"

# openssh-client reaches the pods; tini runs as PID 1 so that the SIGINT and SIGTERM the
# runner sends on cancel reach Python (PID 1 gets no default signal handling from the
# kernel) and exited ssh processes are reaped.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates openssh-client python3 tini \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /opt/venv /opt/venv

# The main and post steps are started by name: the image's ENTRYPOINT for the main step,
# and `post-entrypoint` (which replaces ENTRYPOINT) for the post step. Both names lead to
# a launcher that puts tini in front, so tini is PID 1 whichever way a step starts.
COPY --chmod=0755 tools/container/step.py /usr/local/lib/runpod-ssh-action/step.py
RUN ln -s /usr/local/lib/runpod-ssh-action/step.py /usr/local/bin/runpod-ssh-action-main \
    && ln -s /usr/local/lib/runpod-ssh-action/step.py /usr/local/bin/runpod-ssh-action-post

ENV PATH="/usr/local/bin:/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# No USER: GitHub runs container actions as root and mounts the workspace, HOME and the
# file-command files owned by the runner's user; a non-root user here could not write the
# step's outputs, state and summary. The action itself runs no untrusted code in the
# container: the workflow's jobs run on the pods.
ENTRYPOINT ["/usr/local/bin/runpod-ssh-action-main"]
