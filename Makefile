# The two commands README documents: `make run` and `make test`. Both create/refresh .venv.
# NVIDIA GPUs: add VLLM_PANES_PATH=cuda (PyPI's vllm wheel) to either command.
VLLM_PANES_PATH ?= cpu
export VLLM_PANES_PATH

.PHONY: run test test-fast bench screenshot venv clean

run:
	@scripts/venv.sh $(VLLM_PANES_PATH)
	.venv/bin/vllm-panes --demo

# Two workers, each with its own engine, keep both cores of a small CPU machine busy (the suite is
# mostly processes starting, one core each). On a GPU each worker's engine would ask for 90% of its
# memory, so the cuda path runs the suite in one process.
TEST_WORKERS ?= $(if $(filter cuda,$(VLLM_PANES_PATH)),0,2)

test:
	@scripts/venv.sh $(VLLM_PANES_PATH),dev
	.venv/bin/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

# The inner loop: every test that needs neither the engine, a server nor a process of its own.
test-fast:
	@scripts/venv.sh $(VLLM_PANES_PATH),dev
	.venv/bin/python -m pytest -q -n auto --dist worksteal --key-storm 50 -m "not engine and not remote and not subprocess"

bench:
	@scripts/venv.sh $(VLLM_PANES_PATH),dev
	.venv/bin/python -m bench

# The guide's pictures (docs/guide/images/; README shows screenshot.svg): the real app on the demo
# model, in a virtual terminal.
screenshot:
	@scripts/venv.sh $(VLLM_PANES_PATH)
	.venv/bin/python scripts/screenshot.py docs/guide/images/screenshot.svg docs/guide/images/heat-view.svg \
		docs/guide/images/structured-outputs.svg docs/guide/images/thinking.svg docs/guide/images/arena-leaderboard.svg

clean:
	rm -rf .venv .pytest_cache
