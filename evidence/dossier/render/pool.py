"""Laying parts out: from the cache when it can, else in worker processes (one per core), the longest first.

Workers are plain child processes running parts.py alone, fed HTML on stdin, answering PDF bytes on stdout:
no fork of a process that has threads (the web server's job consumer), no re-import of the caller's
__main__ (multiprocessing's spawn does that), and nothing of the application loaded in the workers.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

from evidence.dossier.render import parts as part_module
from evidence.dossier.render.cache import PartCache
from evidence.dossier.render.parts import Part, part_key, receive_frame, render_part, send_frames


def default_workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores)


class Worker:
    """One worker process."""

    # parts.py alone, under a name of its own: the application package (Flask and all) stays out of workers.
    SOURCE = Path(part_module.__file__).resolve()
    BOOT = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('evidence_dossier_worker', "
            "sys.argv[1]); module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
            "module.worker_main()")

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, "-c", self.BOOT, str(self.SOURCE)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.cpu = 0.0  # seconds of processor time spent laying out parts
        self.parts = 0  # parts it laid out

    def render(self, html: str) -> tuple[bytes, list[str]]:
        send_frames(self.process.stdin, html.encode())
        header, pdf = receive_frame(self.process.stdout), receive_frame(self.process.stdout)
        if header is None or pdf is None:
            raise RuntimeError(f"a dossier rendering process stopped (exit code {self.process.poll()})")
        answer = json.loads(header)
        if "error" in answer:
            raise RuntimeError(f"rendering a dossier part failed in a worker process:\n{answer['error']}")
        self.cpu += answer["cpu"]
        self.parts += 1
        return pdf, answer["refused"]

    def close(self) -> None:
        # Idle (or still starting): nothing to wait for.
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


@dataclass(frozen=True)
class RenderStats:
    """What one rendering did (the bench prints it, the tests check it)."""

    rendered: int  # parts laid out
    cached: int  # parts taken from the cache
    workers: int  # processes that laid parts out (1: the caller's own)
    worker_cpu: float  # processor seconds the worker processes spent laying out parts


class PartRenderer:
    """Lays out parts: from the cache when it can, else in worker processes (or in this one, with one worker).

    With more than one worker, the first starts on entering the `with` block, so that it imports WeasyPrint
    (some 0.7 s of processor time) while the caller writes the HTML: a new version of a dossier always lays
    out its front part at least. The others start as parts go missing, up to one per missing part of a
    render() call, so that a version where one part changed pays for one worker start, not one per core.
    Leaving the `with` block stops them and sets `stats`."""

    def __init__(self, workers: int = 1, cache: Optional[PartCache] = None, refused: Optional[list] = None,
                 progress: Optional[Callable[[float], None]] = None):
        self.workers = workers
        self.cache = cache
        self.refused = refused
        self.progress = progress  # called with the share of the parts of a render() call that are done
        self.rendered = self.cached = 0  # parts laid out, parts taken from the cache
        self.worker_cpu = 0.0  # processor seconds the worker processes spent laying out parts
        self.stats: Optional[RenderStats] = None
        self._pool: list[Worker] = []

    def __enter__(self):
        if self.workers > 1:
            self._grow(1)
        return self

    def _grow(self, size: int) -> None:
        try:
            while len(self._pool) < size:
                self._pool.append(Worker())
        except OSError as error:  # no interpreter to start (an embedded one): lay out here instead
            logging.getLogger(__name__).warning("dossier workers cannot start (%s): rendering in-process", error)
            for worker in self._pool:
                worker.close()
            self._pool, self.workers = [], 1

    def __exit__(self, *exc):
        busy = 0
        for worker in self._pool:
            self.worker_cpu += worker.cpu
            busy += worker.parts > 0
            worker.close()
        self.stats = RenderStats(rendered=self.rendered, cached=self.cached, workers=busy or 1,
                                 worker_cpu=round(self.worker_cpu, 2))
        self._pool = []
        if self.cache is not None:
            self.cache.prune()
        return False

    def render(self, htmls: Iterable[str], grow: bool = True) -> list[Part]:
        """These parts, laid out and read, in order. `grow` False: by the workers already started (one at
        least), for a few short parts that would not pay for another worker's start."""
        sources, keys, results, misses = [], [], [], 0
        for html in htmls:
            key = part_key(html)
            sources.append(html)
            keys.append(key)
            results.append(self.cache.get(key) if self.cache is not None else None)
            if results[-1] is None and self.workers > 1:
                misses += 1
                self._grow(min(self.workers, misses if grow else 1))
        missing = [i for i, pdf in enumerate(results) if pdf is None]
        self.cached += len(results) - len(missing)
        missing.sort(key=lambda i: -len(sources[i]))  # the longest first, so that the workers finish together
        parts: list[Optional[Part]] = [None] * len(sources)

        def done(i: int, pdf: bytes, refused: list[str]) -> None:
            results[i] = pdf
            self.rendered += 1
            if self.refused is not None:
                self.refused.extend(refused)
            if self.cache is not None:
                self.cache.put(keys[i], pdf)
            if self.progress is not None:
                self.progress(sum(r is not None for r in results) / len(results))

        if not self._pool:
            for i in missing:
                done(i, *render_part(sources[i]))
        elif missing:
            jobs, finished = queue.SimpleQueue(), queue.SimpleQueue()
            for i in missing:
                jobs.put(i)
            failures: list[BaseException] = []

            def serve(worker: Worker) -> None:
                while not failures:
                    try:
                        i = jobs.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        finished.put((i, *worker.render(sources[i])))
                    except BaseException as error:
                        failures.append(error)
                        finished.put(None)
                        return

            threads = [threading.Thread(target=serve, args=(worker,), daemon=True) for worker in self._pool]
            for thread in threads:
                thread.start()
            # Read the parts already there while the workers lay out the others.
            for i, pdf in enumerate(results):
                if pdf is not None:
                    parts[i] = Part(pdf)
            for _ in missing:
                outcome = finished.get()
                if outcome is None:
                    break
                done(*outcome)
                parts[outcome[0]] = Part(outcome[1])
            for thread in threads:
                thread.join()
            if failures:
                raise failures[0]
        return [part if part is not None else Part(pdf) for part, pdf in zip(parts, results)]
