"""The Python packages a tool in tools/ needs, installed where they are missing.

    from python_env import ensure_packages
    ensure_packages("peft_roundtrip", modules=["peft", "torch"], packages=["peft", "torch"])

returns when the running interpreter imports every module; otherwise it installs the packages
into the repository's .venv (created if missing, ignored by git) and runs the tool again with
that interpreter, once.
"""
import importlib.util
import os
import pathlib
import subprocess
import sys
import venv

VENV_DIR = pathlib.Path(__file__).resolve().parent.parent / ".venv"


def ensure_packages(tool, modules, packages):
    if all(importlib.util.find_spec(module) is not None for module in modules):
        return
    flag = f"RANKLENS_{tool.upper()}_BOOTSTRAPPED"
    if os.environ.get(flag):
        sys.exit(f"{tool}: packages still missing after installing them into {sys.prefix}")
    python = VENV_DIR / "bin" / "python"
    if not python.exists():
        venv.create(VENV_DIR, with_pip=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
    os.execve(str(python), [str(python), *sys.argv], {**os.environ, flag: "1"})
