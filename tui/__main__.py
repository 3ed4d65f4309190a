from tui.cli import run

if __name__ == "__main__":  # vLLM spawns children: keep the entry point guarded
    run()
