"""The sandbox's first code in the child process (`langgraph_sale.sandbox.run_python` runs this file as a script):
resource limits, an audit hook that refuses what model-written code must not do, then the code in `main.py`
as `__main__`.

    python -I -B -X utf8 -X faulthandler sandbox_bootstrap.py SANDBOX MEMORY_BYTES CPU_SECONDS FILE_BYTES EXIT_CODE

It imports the standard library only, and everything lives inside `_sandbox_main`, so that nothing of the package
and no name of this module reaches the model's code (which runs in a fresh namespace of its own). The audit hook is
a guard against mistakes of model-written code, not a security boundary (see `langgraph_sale.tools`).
"""

from __future__ import annotations


def _sandbox_main() -> None:  # noqa: C901 - one body, so that the model's code sees no helper names
    import _posixsubprocess
    import builtins
    import os
    import re
    import resource
    import signal
    import sys
    import traceback
    from typing import Any

    sandbox, memory_bytes, cpu_seconds, file_bytes, memory_exit_code = (
        sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))

    def limit(kind: int, soft: int, hard: int) -> None:
        current_hard = resource.getrlimit(kind)[1]
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(kind, (soft, hard))

    limit(resource.RLIMIT_AS, memory_bytes, memory_bytes)
    limit(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1)
    limit(resource.RLIMIT_FSIZE, file_bytes, file_bytes)
    limit(resource.RLIMIT_CORE, 0, 0)
    # A too-large file becomes an OSError the code can report, instead of a silent SIGXFSZ death.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    own_pid = os.getpid()
    own_proc = re.compile(r"/proc/(\d+)(/|$)")
    always_writable = {"/dev/null", "/dev/stdout", "/dev/stderr"}
    refused_always = {
        "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
        "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo",
        "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
        "resource.setrlimit", "resource.prlimit",
    }
    refused_c_symbols = {
        "fork", "vfork", "clone", "clone3", "execve", "execv", "execvp", "execvpe", "execl", "execlp", "execle",
        "fexecve", "system", "popen", "posix_spawn", "posix_spawnp", "socket", "connect", "bind", "sendto",
        "sendmsg", "getaddrinfo", "gethostbyname", "syscall", "setrlimit", "prlimit", "prlimit64", "kill",
        "unshare", "setns", "ptrace",
    }
    # Event -> positions of its path arguments and of the matching dir_fd argument (None: no dir_fd).
    path_events: dict[str, tuple[tuple[int, int | None], ...]] = {
        "os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.mkdir": ((0, 2),), "os.chmod": ((0, 2),),
        "os.chown": ((0, 3),), "os.utime": ((0, 3),), "os.truncate": ((0, None),), "os.chflags": ((0, None),),
        "os.setxattr": ((0, None),), "os.removexattr": ((0, None),), "os.symlink": ((1, 2),),
        "os.rename": ((0, 2), (1, 3)), "os.link": ((0, 2), (1, 3)), "shutil.rmtree": ((0, 1),),
    }
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def resolve(path: Any, dir_fd: int | None = None) -> str | None:
        if isinstance(path, int):
            return None  # an open descriptor: its file was checked when it was opened
        path = os.fsdecode(os.fspath(path))
        # A negative dir_fd (the audit event's "none given") means the working directory, as realpath assumes.
        if dir_fd is not None and dir_fd >= 0 and not os.path.isabs(path):
            path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
        return str(os.path.realpath(path))

    def inside_sandbox(real: str | None) -> bool:
        return real is None or real == sandbox or real.startswith(sandbox + os.sep) or real in always_writable

    def refuse(what: str) -> None:
        raise PermissionError(f"sandbox: {what} is not allowed here")

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event in refused_always:
            refuse(event)
        elif event == "open":
            path, mode, flags = args
            if path is None:
                return
            real = resolve(path)
            match = own_proc.match(real or "")
            if match and int(match.group(1)) != own_pid:
                refuse(f"reading {real}")
            writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & write_flags)
            if writing and not inside_sandbox(real):
                refuse(f"writing {real} (outside the working directory)")
        elif event in path_events:
            for path_at, dir_fd_at in path_events[event]:
                dir_fd = None if dir_fd_at is None or dir_fd_at >= len(args) else args[dir_fd_at]
                real = resolve(args[path_at], dir_fd)
                if not inside_sandbox(real):
                    refuse(f"{event} on {real} (outside the working directory)")
        elif event in ("os.kill", "os.killpg"):
            if args[0] not in (0, own_pid, os.getpgid(0)):  # 0: its own process group
                refuse(f"{event} of another process")
        elif event == "ctypes.dlsym" and isinstance(args[1], str) and args[1] in refused_c_symbols:
            refuse(f"calling {args[1]} through ctypes")

    def refuse_fork_exec(*args: Any, **kwargs: Any) -> None:
        refuse("starting a program")

    sys.addaudithook(audit)
    _posixsubprocess.fork_exec = refuse_fork_exec  # type: ignore[assignment]

    sys.argv = ["main.py"]
    # Before 3.11, -I still puts this script's folder (the package's) first on the path: not the code's to import.
    here = os.path.dirname(os.path.realpath(__file__))
    sys.path[:] = [sandbox, *(entry for entry in sys.path if os.path.realpath(entry or ".") != here)]
    with open("main.py", encoding="utf-8") as file:
        source = file.read()
    namespace = {"__name__": "__main__", "__file__": os.path.join(sandbox, "main.py"), "__builtins__": builtins}
    try:
        exec(compile(source, "main.py", "exec"), namespace)
    except SystemExit:
        raise
    except BaseException as error:
        # Free what the code allocated first, so printing a MemoryError's traceback has memory to work with.
        namespace.clear()
        sys.stdout.flush()
        # Skip this bootstrap's frame: the model should see its own code only.
        traceback.print_exception(type(error), error, error.__traceback__.tb_next if error.__traceback__ else None)
        sys.stderr.flush()
        if isinstance(error, MemoryError):
            os._exit(memory_exit_code)
        sys.exit(1)


if __name__ == "__main__":
    _sandbox_main()
