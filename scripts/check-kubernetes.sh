#!/usr/bin/env bash
# Checks the Kubernetes manifests offline, without a cluster:
#   1. renders deploy/kubernetes/base and deploy/kubernetes/overlays/ha with kubectl's built-in
#      kustomize (`kubectl kustomize`, no API server involved);
#   2. validates every rendered object against the API schemas of one pinned Kubernetes version
#      with kubernetes-validate (PyPI), strictly, so unknown or misspelt fields fail too; an
#      object whose kind has no schema (a wrong apiVersion) fails as well, where
#      kubernetes-validate alone would only warn;
#   3. checks what each variant promises: the base runs one replica on a PersistentVolumeClaim;
#      ha runs three, rolls without losing a ready replica, has a PodDisruptionBudget, no
#      claim, and takes its PostgreSQL URL from a Secret.
# Installs kubernetes-validate with pip when it is not on PATH. Exits non-zero on any failure.
#
#   scripts/check-kubernetes.sh
#   KUBERNETES_VERSION=1.33 scripts/check-kubernetes.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# The oldest Kubernetes the manifests are meant for; every field they use must exist there.
kubernetes_version="${KUBERNETES_VERSION:-1.30}"
# The release whose bundled schemas the check was written against (1.25 to 1.37).
validate_release=1.37.0

if ! command -v kubectl >/dev/null 2>&1; then
  echo "kubectl is not on PATH: it renders the manifests (kubectl kustomize)" >&2
  exit 1
fi
if command -v kubernetes-validate >/dev/null 2>&1; then
  validate=(kubernetes-validate)
else
  echo "kubernetes-validate is not on PATH: installing kubernetes-validate==$validate_release from PyPI" >&2
  python3 -m pip install -q "kubernetes-validate==$validate_release" >&2
  # Run through the interpreter that just installed it: a fresh console script may not be on
  # PATH yet (user site, pyenv shims).
  validate=(python3 -m kubernetes_validate)
fi
# The property checks below parse the render with PyYAML, which kubernetes-validate depends on.
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "PyYAML is missing: installing it from PyPI" >&2
  python3 -m pip install -q pyyaml >&2
fi
echo "kubernetes-validate $("${validate[@]}" --version), Kubernetes schemas $kubernetes_version"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# Renders `dir`, validates each object; the rendered YAML is left in $scratch/<name>.yaml.
render_and_validate() {
  local name="$1" dir="$2"
  local rendered="$scratch/$name.yaml" report="$scratch/$name.report"
  echo "== $dir"
  kubectl kustomize "$dir" >"$rendered"
  local objects
  objects="$(python3 -c '
import sys, yaml
print(sum(1 for doc in yaml.safe_load_all(open(sys.argv[1])) if doc))
' "$rendered")"
  local status=0
  "${validate[@]}" --strict --kubernetes-version "$kubernetes_version" "$rendered" >"$report" 2>&1 ||
    status=$?
  sed "s|$rendered|$dir|" "$report"
  local passed
  passed="$(grep -c '^INFO .* passed for resource ' "$report" || true)"
  if [ "$status" -ne 0 ] || grep -q '^\(WARN\|ERROR\|FATAL\)' "$report" || [ "$passed" != "$objects" ]; then
    echo "FAIL $dir: $passed of $objects objects validated against Kubernetes $kubernetes_version" >&2
    exit 1
  fi
}

render_and_validate base deploy/kubernetes/base
render_and_validate ha deploy/kubernetes/overlays/ha

echo "== what each variant promises"
python3 - "$scratch/base.yaml" "$scratch/ha.yaml" <<'PY'
import sys
import yaml


def load(path):
    return [doc for doc in yaml.safe_load_all(open(path)) if doc]


def one(objects, kind, variant):
    found = [o for o in objects if o["kind"] == kind]
    if len(found) != 1:
        sys.exit(f"FAIL {variant}: expected one {kind}, found {len(found)}")
    return found[0]


failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def kinds(objects):
    return {o["kind"] for o in objects}


def pod(deployment):
    return deployment["spec"]["template"]["spec"]


def container(deployment):
    return pod(deployment)["containers"][0]


def env(deployment, name):
    return next((e for e in container(deployment).get("env", []) if e["name"] == name), None)


base = load(sys.argv[1])
deployment = one(base, "Deployment", "base")
check(deployment["spec"].get("replicas") == 1, "base: replicas 1")
check(deployment["spec"].get("strategy", {}).get("type") == "Recreate", "base: strategy Recreate")
check("PersistentVolumeClaim" in kinds(base), "base: a PersistentVolumeClaim")
check(
    any(v.get("persistentVolumeClaim") for v in pod(deployment).get("volumes", [])),
    "base: the claim is mounted",
)

ha = load(sys.argv[2])
deployment = one(ha, "Deployment", "ha")
spec = deployment["spec"]
rolling = spec.get("strategy", {}).get("rollingUpdate", {})
check(spec.get("replicas") == 3, "ha: replicas 3")
check(spec.get("strategy", {}).get("type") == "RollingUpdate", "ha: strategy RollingUpdate")
check(rolling.get("maxUnavailable") == 0, "ha: maxUnavailable 0")
check(rolling.get("maxSurge") == 1, "ha: maxSurge 1")
check("PodDisruptionBudget" in kinds(ha), "ha: a PodDisruptionBudget")
check("PersistentVolumeClaim" not in kinds(ha), "ha: no PersistentVolumeClaim")
volumes = pod(deployment).get("volumes", [])
mounts = {m["mountPath"] for m in container(deployment).get("volumeMounts", [])}
check(
    not any(v.get("persistentVolumeClaim") for v in volumes) and "/var/lib/rollgate" not in mounts,
    "ha: no data volume",
)
check({"/etc/rollgate", "/tmp"} <= mounts, "ha: the config and /tmp are still mounted")
store = env(deployment, "ROLLGATE_STORE") or {}
check(
    "secretKeyRef" in store.get("valueFrom", {}) and not store["valueFrom"]["secretKeyRef"].get("optional"),
    "ha: ROLLGATE_STORE from a (required) secretKeyRef",
)
replica = env(deployment, "ROLLGATE_REPLICA_ID") or {}
check(
    replica.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
    "ha: ROLLGATE_REPLICA_ID from the pod name",
)
drain = (env(deployment, "ROLLGATE_DRAIN") or {}).get("value", "")
drain_s = int(drain[:-1]) if drain.endswith("s") and drain[:-1].isdigit() else None
# The drain, then limits.shutdown_grace_ms (10 s) for in-flight requests, then some margin.
grace = pod(deployment).get("terminationGracePeriodSeconds", 30)
check(
    drain_s is not None and drain_s > 0 and grace >= drain_s + 10 + 10,
    f"ha: drain {drain} fits terminationGracePeriodSeconds {grace}",
)
check(
    container(deployment).get("readinessProbe", {}).get("httpGet", {}).get("path") == "/v2/health/ready",
    "ha: readiness probe on /v2/health/ready",
)

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
PY
echo "Kubernetes manifests OK (Kubernetes $kubernetes_version schemas)"
