# Fixtures live in tests/fixtures/, one module per part of the sandbox.
pytest_plugins = ["fixtures.aws", "fixtures.standin", "fixtures.ansible", "fixtures.deploy_site", "fixtures.golden",
                  "fixtures.live"]
