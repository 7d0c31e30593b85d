"""Test fakes for what cannot run for real in CI (see each module's docstring).

  docker_hub   DockerHubFake: Docker Hub's token auth, pull rate limit and blob CDN redirect,
               in front of a real docker-registry.
"""
