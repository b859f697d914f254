from rag.indexing.progress import ProgressLog


def test_lines_come_at_start_at_a_steady_pace_and_at_the_end() -> None:
    now = [0.0]
    lines: list[str] = []
    progress = ProgressLog(lines.append, every=5.0, clock=lambda: now[0])
    for second in range(0, 21):  # 100 passages a second for 20 s, reported every second
        now[0] = float(second)
        progress("passages", 100 * second, 2000)
    assert lines == [
        "passages: 0/2000 (0%)",
        "passages: 500/2000 (25%), 100/s, about 15 s left",
        "passages: 1000/2000 (50%), 100/s, about 10 s left",
        "passages: 1500/2000 (75%), 100/s, about 5 s left",
        "passages: 2000/2000 (100%), done in 20 s",
    ]


def test_each_stage_has_its_own_clock_and_long_waits_read_in_minutes() -> None:
    now = [0.0]
    lines: list[str] = []
    progress = ProgressLog(lines.append, every=60.0, clock=lambda: now[0])
    progress("sentences", 10, 100_000)
    now[0] = 100.0
    progress("sentences", 1010, 100_000)
    progress("indexing", 0, 1)
    assert lines[1] == "sentences: 1010/100000 (1%), 10/s, about 2 h 43 min left"
    assert lines[2] == "indexing: 0/1 (0%)"
