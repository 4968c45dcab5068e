"""The image, the compose stack and the Kubernetes manifests, checked statically.

No container engine runs where the tests run, so nothing here builds an image or starts a container: the files
are parsed and held against the settings class, the `hub` command line and the Kubernetes JSON schemas.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hub.cli import build_parser
from hub.settings import CREDIT_STATUS_TOPIC, CUSTOMER_TOPIC, DEADLETTER_TOPIC, SOURCE_TOPICS, Settings
from hub.streams.kafka import COMPACTED

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATIONS = {"base": K8S / "base", "production": K8S / "overlays" / "production"}
# The oldest Kubernetes release the manifests promise to fit; kubernetes-validate ships schemas up to 1.37.
KUBERNETES_VERSION = "1.30"

SETTING_VARIABLES = {
    f"{Settings.model_config.get('env_prefix', '')}{name}".upper() for name in Settings.model_fields
}
HUB_TOPICS = {*SOURCE_TOPICS.values(), CUSTOMER_TOPIC, CREDIT_STATUS_TOPIC, DEADLETTER_TOPIC}
HUB_SERVICES = ("migrate", "worker", "api")
WORKER_POD_CONTAINER = ("hub-worker", "worker")
API_POD_CONTAINER = ("hub-api", "api")


# --- helpers ------------------------------------------------------------------------------------------------


def image_tag(image: str) -> str | None:
    """Return an image reference's tag (None when it has none), ignoring a registry port and a digest."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None


def is_pinned(image: str) -> bool:
    """Tell whether an image names a version: a tag with a digit in it, never `latest`."""
    tag = image_tag(image)
    return tag is not None and tag != "latest" and any(c.isdigit() for c in tag)


def compose() -> dict[str, Any]:
    """Load docker-compose.yml (PyYAML resolves its anchors and merge keys as compose does)."""
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def environment(service: dict[str, Any]) -> dict[str, str]:
    """Return a compose service's environment, from either the mapping or the list form."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def seconds(duration: str) -> float:
    """Parse a compose duration such as `45s` or `1m30s`."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """Return the Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def final_stage() -> list[tuple[str, str]]:
    """Return the instructions of the last stage, the one the image is."""
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def exec_form(instruction: str) -> list[str]:
    """Return the argument list of an ENTRYPOINT or CMD, which must use the JSON (exec) form."""
    (arguments,) = [args for keyword, args in final_stage() if keyword == instruction]
    parsed = json.loads(arguments)
    assert isinstance(parsed, list), f"{instruction} must be a JSON list, so signals reach the process"
    return [str(item) for item in parsed]


def image_user() -> int:
    """Return the numeric user the image runs as (its last USER)."""
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users, "the runtime stage sets no USER, so it runs as root"
    user = users[-1].split(":")[0]
    assert user.isdigit(), f"USER {user} is not numeric"
    return int(user)


def strategic_merge(base: Any, patch: Any) -> Any:
    """Merge a patch into a resource: mappings key by key, lists of named items by name, the rest replaced.

    This is the part of Kubernetes' strategic merge the overlays use (containers, env and volumes are merged
    by name); `kubectl kustomize` does the real thing.
    """
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = strategic_merge(base[key], value) if key in base else value
        return merged
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(item, dict) and "name" in item for item in [*base, *patch])
    ):
        by_name = {item["name"]: item for item in base}
        for item in patch:
            by_name[item["name"]] = (
                strategic_merge(by_name[item["name"]], item) if item["name"] in by_name else item
            )
        return list(by_name.values())
    return patch


def documents(path: Path) -> list[dict[str, Any]]:
    """Load every non-empty document of a YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization(directory: Path) -> dict[str, Any]:
    """Load a directory's kustomization.yaml."""
    loaded: dict[str, Any] = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return loaded


def render(directory: Path) -> list[dict[str, Any]]:
    """Build a kustomization as far as these need: resources, strategic-merge patches, images, namespace."""
    spec = kustomization(directory)
    resources: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = (directory / entry).resolve()
        resources += render(path) if path.is_dir() else documents(path)
    for patch_entry in spec.get("patches", []):
        assert set(patch_entry) == {"path"}, "only file patches (strategic merge) are rendered here"
        for patch in documents(directory / patch_entry["path"]):
            key = (patch["kind"], patch["metadata"]["name"])
            targets = [i for i, r in enumerate(resources) if (r["kind"], r["metadata"]["name"]) == key]
            assert len(targets) == 1, (
                f"{patch_entry['path']} patches {key}, which the base does not have once"
            )
            resources[targets[0]] = strategic_merge(resources[targets[0]], patch)
    for image in spec.get("images", []):
        for container in all_containers(resources):
            if container["image"].split("@")[0].rsplit(":", 1)[0] == image["name"]:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    if "namespace" in spec:
        for resource in resources:
            resource["metadata"]["namespace"] = spec["namespace"]
    return resources


def pod_spec(resource: dict[str, Any]) -> dict[str, Any] | None:
    """Return the pod spec of a workload (Deployment, Job, ...), or None for a resource without pods."""
    template = resource.get("spec", {}).get("template")
    return None if template is None else dict(template["spec"])


def all_containers(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return every container and init container of every workload."""
    containers: list[dict[str, Any]] = []
    for resource in resources:
        spec = pod_spec(resource)
        if spec is not None:
            containers += spec.get("containers", []) + spec.get("initContainers", [])
    return containers


def find(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """Return the one resource of that kind and name."""
    (found,) = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def container(resources: list[dict[str, Any]], deployment: str, name: str) -> dict[str, Any]:
    """Return a named container of a Deployment."""
    spec = pod_spec(find(resources, "Deployment", deployment))
    assert spec is not None
    (found,) = [c for c in spec["containers"] if c["name"] == name]
    return found


def config_map_data(resources: list[dict[str, Any]], name: str) -> dict[str, str]:
    """Return a ConfigMap's data."""
    return dict(find(resources, "ConfigMap", name)["data"])


def container_environment(resources: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, Any]:
    """Return a container's environment: its ConfigMap keys (by envFrom) and then its own env entries."""
    variables: dict[str, Any] = {}
    for source in spec.get("envFrom", []):
        assert "configMapRef" in source, "envFrom only for the ConfigMap; secrets are referenced key by key"
        variables.update(config_map_data(resources, source["configMapRef"]["name"]))
    for entry in spec.get("env", []):
        variables[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return variables


@pytest.fixture(params=sorted(KUSTOMIZATIONS), scope="module")
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """Every resource of one kustomization (the base, then each overlay), patched."""
    return render(KUSTOMIZATIONS[request.param])


# --- the image ----------------------------------------------------------------------------------------------


def test_every_base_image_of_the_dockerfile_is_pinned_by_a_version() -> None:
    stages: set[str] = set()
    froms = [args for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert len(froms) >= 2, "a multi-stage build: the runtime stage carries no build tools"
    for arguments in froms:
        words = arguments.split()
        image = next(w for w in words if not w.startswith("--"))
        assert image in stages or is_pinned(image), f"FROM {image} is not pinned to a version"
        if len(words) >= 3 and words[-2].upper() == "AS":
            stages.add(words[-1])


def test_the_image_entrypoint_is_hub_and_its_default_command_is_a_hub_subcommand() -> None:
    assert exec_form("ENTRYPOINT") == ["hub"]
    command = exec_form("CMD")
    assert build_parser().parse_args(command).command == command[0]


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    # Kubernetes can enforce runAsNonRoot only for a numeric user.
    assert image_user() != 0


def test_the_image_healthcheck_asks_the_api_healthz_on_its_configured_port() -> None:
    (healthcheck,) = [args for keyword, args in final_stage() if keyword == "HEALTHCHECK"]
    assert "/healthz" in healthcheck
    assert "HUB_API_PORT" in healthcheck and str(Settings.model_fields["api_port"].default) in healthcheck


def test_the_image_copies_a_virtualenv_built_in_an_earlier_stage() -> None:
    copies = [args for keyword, args in final_stage() if keyword == "COPY"]
    assert any(args.startswith("--from=") for args in copies)
    assert not any(keyword == "RUN" and "pip install" in args for keyword, args in final_stage())


# --- docker-compose.yml -------------------------------------------------------------------------------------


def test_every_compose_image_is_pinned_by_a_tag_that_is_not_latest() -> None:
    services = compose()["services"]
    for name, service in services.items():
        assert "image" in service, f"{name} names no image, so compose would tag it by the project name"
        assert is_pinned(service["image"]), f"{name}: {service['image']} is not pinned"


def test_every_hub_variable_compose_sets_is_a_setting() -> None:
    services = compose()["services"]
    used = {key for service in services.values() for key in environment(service) if key.startswith("HUB_")}
    assert {"HUB_DATABASE_URL", "HUB_KAFKA_BOOTSTRAP_SERVERS", "HUB_API_TOKENS"} <= used
    assert used <= SETTING_VARIABLES, f"not settings: {sorted(used - SETTING_VARIABLES)}"


def test_postgres_kafka_and_the_api_have_healthchecks() -> None:
    services = compose()["services"]
    for name in ("postgres", "kafka", "api"):
        healthcheck = services[name].get("healthcheck", {})
        assert healthcheck.get("test") and not healthcheck.get("disable"), f"{name} has no healthcheck"
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    assert "/healthz" in str(services["api"]["healthcheck"]["test"])


def test_the_hub_waits_for_migrations_to_finish_and_for_healthy_servers() -> None:
    services = compose()["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("worker", "api"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"
        assert depends_on["topics"]["condition"] == "service_completed_successfully"
        assert depends_on["kafka"]["condition"] == "service_healthy"


def test_every_dependency_waits_for_a_condition_that_fits_it() -> None:
    services = compose()["services"]
    one_shots = {"migrate", "topics"}
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: the list form of depends_on waits for nothing"
        for dependency, rule in depends_on.items():
            expected = "service_completed_successfully" if dependency in one_shots else "service_healthy"
            assert rule["condition"] == expected, f"{name} -> {dependency}"


def test_the_worker_can_be_scaled_it_publishes_no_port_and_has_no_fixed_name() -> None:
    worker = compose()["services"]["worker"]
    assert "ports" not in worker
    assert "container_name" not in worker


def test_the_hub_services_run_existing_hub_subcommands() -> None:
    services = compose()["services"]
    for name in HUB_SERVICES:
        command = services[name]["command"]
        assert "entrypoint" not in services[name], f"{name} must run through the image's `hub` entrypoint"
        assert build_parser().parse_args(command).command == name


def test_the_topics_service_creates_every_hub_topic_with_its_partitions_and_compacts_mdm_customer() -> None:
    services = compose()["services"]
    script = "\n".join(services["topics"]["command"])
    assert "/opt/kafka/bin/kafka-topics.sh" in script and "--if-not-exists" in script
    created: dict[str, list[str]] = {}
    for line in script.splitlines():
        words = line.split()
        if words and words[0] == "create":
            created[words[1]] = words[2:]
    assert set(created) == HUB_TOPICS
    for topic, options in created.items():
        compacted = options == ["--config", "cleanup.policy=compact"]
        assert compacted == (topic in COMPACTED), topic
    (partitions,) = re.findall(r"--partitions (\d+)", script)
    assert partitions == environment(services["worker"])["HUB_TOPIC_PARTITIONS"]
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_no_secret_is_written_in_compose_and_every_required_one_is_in_the_env_example() -> None:
    text = COMPOSE_FILE.read_text()
    services = compose()["services"]
    assert environment(services["postgres"])["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert environment(services["api"])["HUB_API_TOKENS"].startswith("${HUB_API_TOKENS:?")
    assert "${POSTGRES_PASSWORD:?" in environment(services["worker"])["HUB_DATABASE_URL"]
    required = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", text))
    example = {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line}
    assert required and required <= example, f"missing from .env.example: {sorted(required - example)}"


def test_compose_stops_a_worker_later_than_the_hub_shutdown_grace() -> None:
    field = Settings.model_fields.get("shutdown_grace_seconds")
    assert field is not None, "hub/settings.py has no shutdown_grace_seconds (HUB_SHUTDOWN_GRACE_SECONDS)"
    grace = float(field.default)
    assert seconds(compose()["services"]["worker"]["stop_grace_period"]) > grace


def test_the_reference_consumers_get_their_own_variables_and_keep_state_on_a_volume() -> None:
    services = compose()["services"]
    gate, ar_sync = services["sales-credit-gate"], services["ar-sync"]
    assert gate["entrypoint"] == ["python", "-m", "consumers.sales_credit_gate"]
    assert ar_sync["entrypoint"] == ["python", "-m", "consumers.ar_sync"]
    gate_env, ar_env = environment(gate), environment(ar_sync)
    assert set(gate_env) == {
        "GATE_KAFKA_BOOTSTRAP_SERVERS",
        "GATE_HTTP_HOST",
        "GATE_HTTP_PORT",
        "GATE_STATE_DIR",
        "GATE_GROUP_ID",
    }
    assert set(ar_env) == {"AR_KAFKA_BOOTSTRAP_SERVERS", "AR_STATE_DIR", "AR_GROUP_ID"}
    assert gate_env["GATE_HTTP_HOST"] == "0.0.0.0"
    assert f"{gate_env['GATE_HTTP_PORT']}:{gate_env['GATE_HTTP_PORT']}" in gate["ports"]
    assert any(v.endswith(":" + gate_env["GATE_STATE_DIR"]) for v in gate["volumes"])
    assert any(v.endswith(":" + ar_env["AR_STATE_DIR"]) for v in ar_sync["volumes"])


# --- Kubernetes ---------------------------------------------------------------------------------------------


def test_every_manifest_file_is_part_of_a_kustomization() -> None:
    referenced: set[Path] = set()
    for directory in KUSTOMIZATIONS.values():
        spec = kustomization(directory)
        referenced |= {(directory / entry).resolve() for entry in spec.get("resources", [])}
        referenced |= {(directory / entry["path"]).resolve() for entry in spec.get("patches", [])}
    for path in K8S.rglob("*.y*ml"):
        assert path.name == "kustomization.yaml" or path.resolve() in referenced, f"{path} is never applied"


def test_every_kubernetes_manifest_is_valid_against_the_kubernetes_schemas(
    rendered: list[dict[str, Any]],
) -> None:
    assert rendered
    for resource in rendered:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_every_resource_file_is_valid_on_its_own() -> None:
    for path in sorted((K8S / "base").glob("*.yaml")):
        if path.name != "kustomization.yaml":
            for resource in documents(path):
                kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_every_kubernetes_image_is_pinned_by_a_tag_that_is_not_latest(rendered: list[dict[str, Any]]) -> None:
    containers = all_containers(rendered)
    assert containers
    for spec in containers:
        assert is_pinned(spec["image"]), f"{spec['name']}: {spec['image']} is not pinned"


def test_every_hub_variable_of_the_manifests_is_a_setting(rendered: list[dict[str, Any]]) -> None:
    config = config_map_data(rendered, "customer-master-hub-config")
    assert set(config) <= SETTING_VARIABLES, f"not settings: {sorted(set(config) - SETTING_VARIABLES)}"
    for spec in all_containers(rendered):
        names = {entry["name"] for entry in spec.get("env", []) if entry["name"].startswith("HUB_")}
        assert names <= SETTING_VARIABLES, (
            f"{spec['name']}: not settings: {sorted(names - SETTING_VARIABLES)}"
        )
    worker = container_environment(rendered, container(rendered, *WORKER_POD_CONTAINER))
    assert {"HUB_DATABASE_URL", "HUB_KAFKA_BOOTSTRAP_SERVERS", "HUB_SHUTDOWN_GRACE_SECONDS"} <= set(worker)


def test_the_database_url_and_api_tokens_come_from_a_secret_that_is_not_committed(
    rendered: list[dict[str, Any]],
) -> None:
    assert not [r for r in rendered if r["kind"] == "Secret"], "secret values are never committed"
    secret_only = {"HUB_DATABASE_URL", "HUB_API_TOKENS", "HUB_KAFKA_SASL_PASSWORD"}
    assert not secret_only & set(config_map_data(rendered, "customer-master-hub-config"))
    seen: set[str] = set()
    for spec in all_containers(rendered):
        for entry in spec.get("env", []):
            if entry["name"] in secret_only:
                seen.add(entry["name"])
                assert "secretKeyRef" in entry.get("valueFrom", {}), entry["name"]
    assert {"HUB_DATABASE_URL", "HUB_API_TOKENS"} <= seen


def test_the_api_is_ready_on_readyz_and_alive_on_healthz_at_its_port(rendered: list[dict[str, Any]]) -> None:
    api = container(rendered, *API_POD_CONTAINER)
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe"):
        port = api[probe]["httpGet"]["port"]
        assert ports.get(port, port) == int(container_environment(rendered, api)["HUB_API_PORT"])
    service = find(rendered, "Service", "hub-api")
    template_labels = find(rendered, "Deployment", "hub-api")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= template_labels.items()


def test_the_worker_outlives_the_hub_shutdown_grace_before_it_is_killed(
    rendered: list[dict[str, Any]],
) -> None:
    worker = find(rendered, "Deployment", "hub-worker")
    grace = float(config_map_data(rendered, "customer-master-hub-config")["HUB_SHUTDOWN_GRACE_SECONDS"])
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace


def test_the_worker_has_a_disruption_budget_that_selects_its_pods(rendered: list[dict[str, Any]]) -> None:
    worker = find(rendered, "Deployment", "hub-worker")
    budgets = [
        r
        for r in rendered
        if r["kind"] == "PodDisruptionBudget"
        and r["spec"]["selector"]["matchLabels"].items()
        <= worker["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert len(budgets) == 1


def test_no_more_workers_run_than_a_source_topic_has_partitions(rendered: list[dict[str, Any]]) -> None:
    partitions = int(config_map_data(rendered, "customer-master-hub-config")["HUB_TOPIC_PARTITIONS"])
    assert 1 <= find(rendered, "Deployment", "hub-worker")["spec"]["replicas"] <= partitions


def test_the_hub_workloads_run_existing_hub_subcommands(rendered: list[dict[str, Any]]) -> None:
    expected = {
        ("Job", "hub-migrate"): "migrate",
        ("Deployment", "hub-worker"): "worker",
        ("Deployment", "hub-api"): "api",
    }
    for (kind, name), subcommand in expected.items():
        spec = pod_spec(find(rendered, kind, name))
        assert spec is not None
        (hub,) = spec["containers"]
        assert "command" not in hub, f"{name} must run through the image's `hub` entrypoint"
        assert build_parser().parse_args(hub["args"]).command == subcommand


def test_the_reference_consumers_run_as_deployments_with_their_variables(
    rendered: list[dict[str, Any]],
) -> None:
    gate = container(rendered, "sales-credit-gate", "sales-credit-gate")
    ar_sync = container(rendered, "ar-sync", "ar-sync")
    assert gate["command"] == ["python", "-m", "consumers.sales_credit_gate"]
    assert ar_sync["command"] == ["python", "-m", "consumers.ar_sync"]
    gate_env = container_environment(rendered, gate)
    assert {"GATE_KAFKA_BOOTSTRAP_SERVERS", "GATE_HTTP_HOST", "GATE_HTTP_PORT", "GATE_STATE_DIR"} <= set(
        gate_env
    )
    assert {"AR_KAFKA_BOOTSTRAP_SERVERS", "AR_STATE_DIR", "AR_GROUP_ID"} <= set(
        container_environment(rendered, ar_sync)
    )
    assert gate_env["GATE_HTTP_HOST"] == "0.0.0.0"
    assert {p["containerPort"] for p in gate["ports"]} == {int(gate_env["GATE_HTTP_PORT"])}


def test_every_pod_runs_as_non_root_with_requests_and_limits(rendered: list[dict[str, Any]]) -> None:
    workloads = [r for r in rendered if pod_spec(r) is not None]
    assert len(workloads) == 5
    for resource in workloads:
        spec = pod_spec(resource)
        assert spec is not None
        for one in spec["containers"]:
            context = {**spec.get("securityContext", {}), **one.get("securityContext", {})}
            assert context.get("runAsNonRoot") is True, resource["metadata"]["name"]
            assert context.get("runAsUser") == image_user(), "the image's user owns its state directories"
            assert context.get("allowPrivilegeEscalation") is False
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(one["resources"].get(bound, {})), (one["name"], bound)
