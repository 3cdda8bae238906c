"""The typed values the service module returns and takes: frozen dataclasses.

Fields keep the API's names and units (RAM in MB, prices in $/hr, storage_cost in
$/GB/month); properties give templates the derived values. Only `parsing` builds
them from JSON, and no secret field is ever copied into one.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

RUNTYPES: Final = (
    "ssh",
    "ssh_proxy",
    "ssh_direc ssh_proxy",
    "jupyter_proxy ssh_proxy",
    "jupyter_direc ssh_direc ssh_proxy",
    "args",
)
TRANSITIONAL_STATUSES: Final = frozenset({"starting", "stopping", "rebooting"})
# GB as users name GPU memory: an RTX 4090's 24564 MB is "24 GB", so 1024 MB, shown rounded.
MB_PER_GB: Final = 1024


def min_vram_mb(gb: float) -> float:
    """The fewest MB of GPU memory shown as at least `gb` GB (whole GB, rounded half up, as the
    `vram` filter shows it): "at least 24 GB" keeps a 24564 MB card and drops a 23.4 GB one."""
    return max(0.0, (gb - 0.5) * MB_PER_GB)


def _raw_default() -> Mapping[str, Any]:
    return MappingProxyType({})


def _unpickle(cls: type, state: dict[str, Any], read_only: tuple[str, ...]) -> Any:
    return cls(**state | {name: MappingProxyType(state[name]) for name in read_only})


class _Picklable:
    """Lets a dataclass holding read-only mappings go through pickle (Django's cache pickles)."""

    def __reduce__(self) -> tuple[Any, ...]:
        state = {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
        read_only = tuple(name for name, value in state.items() if isinstance(value, MappingProxyType))
        return _unpickle, (type(self), state | {name: dict(state[name]) for name in read_only}, read_only)


@dataclass(frozen=True, kw_only=True)
class Offer(_Picklable):
    """One rentable offer, in the API's units: RAM in MB, prices in $/hr, storage_cost in $/GB/month,
    inet_*_cost (bandwidth) in $/GB."""

    id: int
    gpu_name: str
    num_gpus: int
    dph_total: float
    gpu_ram: int | None = None
    gpu_total_ram: int | None = None
    dph_base: float | None = None
    storage_cost: float | None = None
    storage_total_cost: float | None = None
    discounted_dph_total: float | None = None
    min_bid: float | None = None
    dlperf: float | None = None
    dlperf_per_dphtotal: float | None = None
    total_flops: float | None = None
    flops_per_dphtotal: float | None = None
    score: float | None = None
    reliability: float | None = None
    cuda_max_good: float | None = None
    compute_cap: int | None = None
    driver_version: str | None = None
    cpu_name: str | None = None
    cpu_cores_effective: float | None = None
    cpu_ghz: float | None = None
    cpu_ram: int | None = None
    disk_space: float | None = None
    disk_bw: float | None = None
    pcie_bw: float | None = None
    pci_gen: float | None = None
    disk_name: str | None = None
    inet_up: float | None = None
    inet_down: float | None = None
    inet_up_cost: float | None = None
    inet_down_cost: float | None = None
    direct_port_count: int | None = None
    geolocation: str | None = None
    verification: str | None = None
    hosting_type: int | None = None
    duration: float | None = None
    machine_id: int | None = None
    host_id: int | None = None
    rentable: bool | None = None
    raw: Mapping[str, Any] = field(default_factory=_raw_default, repr=False, compare=False)

    @property
    def price_per_gpu(self) -> float | None:
        return self.dph_total / self.num_gpus if self.num_gpus else None

    @property
    def gpu_ram_gb(self) -> float | None:
        return _gb(self.gpu_ram)

    @property
    def cpu_ram_gb(self) -> float | None:
        return _gb(self.cpu_ram)

    @property
    def country(self) -> str | None:
        """The two-letter country code that ends `geolocation` ("Guangxi, CN" → "CN")."""
        return _country(self.geolocation)

    @property
    def datacenter(self) -> bool | None:
        return None if self.hosting_type is None else self.hosting_type == 1

    @property
    def verified(self) -> bool:
        return self.verification == "verified"

    @property
    def max_days(self) -> float | None:
        return None if self.duration is None else self.duration / 86400

    @property
    def reliability_percent(self) -> float | None:
        return None if self.reliability is None else self.reliability * 100

    @property
    def tflops_per_dollar(self) -> float | None:
        if self.flops_per_dphtotal is not None:
            return self.flops_per_dphtotal
        if self.total_flops is None or not self.dph_total:
            return None
        return self.total_flops / self.dph_total


@dataclass(frozen=True, kw_only=True)
class Instance(_Picklable):
    """One of the account's instances. `env` comes from Vast's `extra_env` pairs; `ports` maps
    a container port ("22/tcp") to its host ports; -1 ("none") direct ports become None."""

    id: int
    label: str | None = None
    actual_status: str | None = None
    intended_status: str | None = None
    cur_state: str | None = None
    status_msg: str | None = None
    gpu_name: str | None = None
    num_gpus: int | None = None
    gpu_ram: int | None = None
    image: str | None = None
    image_runtype: str | None = None
    image_args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=_raw_default)
    onstart: str | None = None
    ssh_host: str | None = None
    ssh_port: int | None = None
    public_ipaddr: str | None = None
    ports: Mapping[str, tuple[int, ...]] = field(default_factory=_raw_default)
    jupyter_token: str | None = field(default=None, repr=False)
    direct_port_start: int | None = None
    direct_port_end: int | None = None
    dph_base: float | None = None
    dph_total: float | None = None
    storage_cost: float | None = None
    storage_total_cost: float | None = None
    disk_space: float | None = None
    gpu_util: float | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    machine_id: int | None = None
    geolocation: str | None = None
    reliability2: float | None = None
    is_bid: bool | None = None
    min_bid: float | None = None
    raw: Mapping[str, Any] = field(default_factory=_raw_default, repr=False, compare=False)

    @property
    def status(self) -> str:
        """A display status: starting, running, stopping, stopped, rebooting, exited, frozen,
        offline, destroyed or unknown. Vast's `actual_status` lags `intended_status` during a
        change, so a mismatch between them reads as starting or stopping."""
        actual, intended = self.actual_status, self.intended_status
        if self.cur_state == "unloaded":
            return "destroyed"
        if actual in (None, "created", "loading", "scheduling"):
            return "stopping" if intended == "stopped" else "starting"
        if actual == "running":
            return "stopping" if intended == "stopped" else "running"
        if actual == "stopped" or (actual == "exited" and intended != "running"):
            return "starting" if intended == "running" else "stopped"
        if actual in ("rebooting", "exited", "frozen", "offline"):
            return actual
        return "unknown"

    @property
    def is_transitional(self) -> bool:
        """True while the state is changing, i.e. a page showing it should keep polling."""
        return self.status in TRANSITIONAL_STATUSES

    @property
    def is_running(self) -> bool:
        return self.status == "running"

    @property
    def ssh_command(self) -> str | None:
        """`ssh -p PORT root@HOST` through Vast's proxy (else direct), only while running."""
        if not self.is_running:
            return None
        if self.ssh_host and self.ssh_port:
            return f"ssh -p {self.ssh_port} root@{self.ssh_host}"
        direct = self.ports.get("22/tcp")
        if self.public_ipaddr and direct:
            return f"ssh -p {direct[0]} root@{self.public_ipaddr}"
        return None

    @property
    def jupyter_url(self) -> str | None:
        """The direct Jupyter URL (with its token) when the instance runs Jupyter and port 8080 is mapped."""
        direct = self.ports.get("8080/tcp")
        if not (self.is_running and self.jupyter_token and self.public_ipaddr and direct):
            return None
        if "jupyter" not in (self.image_runtype or ""):
            return None
        return f"https://{self.public_ipaddr}:{direct[0]}/?token={self.jupyter_token}"

    @property
    def gpu_ram_gb(self) -> float | None:
        return _gb(self.gpu_ram)

    @property
    def country(self) -> str | None:
        return _country(self.geolocation)

    @property
    def storage_per_hour(self) -> float | None:
        """$/hr for the disk, billed even while stopped: Vast's `storage_total_cost`, else
        `storage_cost` ($/GB/month) × GB / 720."""
        if self.storage_total_cost is not None:
            return self.storage_total_cost
        if self.storage_cost is None or self.disk_space is None:
            return None
        return self.storage_cost * self.disk_space / 720

    @property
    def storage_cost_per_day(self) -> float | None:
        """$ per day for the disk, billed even while stopped."""
        per_hour = self.storage_per_hour
        return None if per_hour is None else per_hour * 24


class OfferList(list):
    """Offers as one search answered them, in Vast's order, with that answer's JSON as it came
    (`body`, or None): the offer cache keeps those bytes rather than packing the offers again.
    `body` is set only when it parses to exactly these offers and names no secret field."""

    body: bytes | None = None


class InstanceList(list):
    """The account's instances as one list call answered them; `complete` is True only when
    every page was read, so an instance missing from it is really gone."""

    complete: bool = False


@dataclass(frozen=True, kw_only=True)
class LaunchRequest:
    """What to run on a new instance. `price` set means an interruptible bid in $/hr for the
    whole offer; None means on-demand. `runtype` is one of RUNTYPES (the CLI's spellings)."""

    image: str
    disk: float = 10.0
    label: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    onstart: str | None = None
    runtype: str | None = None
    args: Sequence[str] | None = None
    price: float | None = None
    cancel_unavail: bool = False
    use_jupyter_lab: bool = False

    def __post_init__(self) -> None:
        if self.runtype is not None and self.runtype not in RUNTYPES:
            raise ValueError(f"runtype must be one of {RUNTYPES}, not {self.runtype!r}")
        if not self.image:
            raise ValueError("image is required")
        if not self.disk > 0:
            raise ValueError("disk must be a positive number of GB")
        if self.price is not None and not self.price > 0:
            raise ValueError("a bid price must be positive")

    def as_body(self) -> dict[str, Any]:
        """The `PUT /asks/{id}/` body exactly as vastai 1.9.1 sends it: explicit nulls for unset
        options; `runtype` and `args` only when set."""
        body: dict[str, Any] = {
            "client_id": "me",
            "image": self.image,
            "env": dict(self.env),
            "price": self.price,
            "disk": float(self.disk),
            "label": self.label,
            "extra": None,
            "onstart": self.onstart,
            "image_login": None,
            "python_utf8": False,
            "lang_utf8": False,
            "use_jupyter_lab": self.use_jupyter_lab,
            "jupyter_dir": None,
            "force": False,
            "cancel_unavail": self.cancel_unavail,
            "template_hash_id": None,
            "user": None,
        }
        if self.runtype:
            body["runtype"] = self.runtype
        if self.args is not None:
            body["args"] = list(self.args)
        return body


@dataclass(frozen=True, kw_only=True)
class LaunchResult:
    """A created instance. `started` is False when Vast created it but left it stopped."""

    instance_id: int
    started: bool
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class StateChange:
    """The answer to start/stop. `queued` means Vast lacks the resources now and will retry."""

    queued: bool = False
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """An API key of the account, described; never its secret value."""

    id: int
    name: str | None = None
    key_type: str | None = None
    team_id: int | None = None
    team_name: str | None = None
    user_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class Account:
    """The account behind the dashboard's key. `credit` is the prepaid balance users mean by
    "balance"; `balance` is Vast's ledger value. No key or session id is kept."""

    id: int
    username: str | None = None
    email: str | None = None
    fullname: str | None = None
    credit: float | None = None
    balance: float | None = None
    balance_threshold: float | None = None
    total_spend: float | None = None
    email_verified: bool | None = None
    has_billing: bool | None = None


def _gb(mb: float | None) -> float | None:
    return None if mb is None else mb / MB_PER_GB


def _country(geolocation: str | None) -> str | None:
    code = (geolocation or "").rsplit(",", 1)[-1].strip()
    return code.upper() if len(code) == 2 else None
