def pytest_addoption(parser):
    # tests/unit/raft's scenarios declare the same option (whichever loads first wins)
    try:
        parser.addoption("--rewrite", action="store_true", default=False,
                         help="scenario tests: write the output the core gives now into the "
                              "scenario files instead of comparing (review it as a diff)")
    except ValueError:
        pass
