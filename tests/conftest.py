# Fixtures live in tests/fixtures/, one module per part of the sandbox.
pytest_plugins = ["fixtures.aws", "fixtures.standin", "fixtures.ansible", "fixtures.deploy_site", "fixtures.golden",
                  "fixtures.live", "fixtures.clock"]


def pytest_collection_modifyitems(items):
    """Tests marked `first` (the demo, the longest) run before the rest: under xdist's loadgroup
    one worker runs such a test while the others take the rest, instead of the others idling
    beside it at the end of the run."""
    items.sort(key=lambda item: item.get_closest_marker("first") is None)
