from tui.cli import main

if __name__ == "__main__":  # vLLM spawns children: keep the entry point guarded
    raise SystemExit(main())
