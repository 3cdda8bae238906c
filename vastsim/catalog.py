"""The simulated marketplace: GPU models, host machines and their offers.

`offers(seed)` is a pure function of the seed (cached), so every process sees
the same catalog without storing it. Offers carry only their static fields;
`pricing.price_offer` adds the per-query prices and the time-dependent fields.
Units follow the real API: MB for gpu_ram/cpu_ram, $/hr for dph_*,
$/GB/month for storage_cost, $/GB for inet_*_cost, GB/s for bandwidths.
"""

import functools
import random
import zlib
from dataclasses import dataclass

MACHINE_COUNT = 84


@dataclass(frozen=True)
class GpuModel:
    """A GPU model's specs and its market (price band, machine sizes, frequency)."""

    name: str
    ram_mb: int
    tflops: float  # per GPU
    dlperf: float  # per GPU
    mem_bw: float  # GB/s
    max_power: int  # W
    compute_cap: int
    price_low: float  # $/GPU/hr, on-demand
    price_high: float
    machine_gpus: tuple  # GPUs per host machine
    weight: int  # relative frequency in the market
    nvlink_bw: float = 0.0
    datacenter: bool = False
    min_driver: int = 0  # index into DRIVERS


GPU_MODELS = (
    GpuModel("H200", 143771, 61.2, 205.0, 4800.0, 700, 900, 2.2, 3.4, (8,), 4, 900.0, True, 2),
    GpuModel("H100 SXM", 81559, 59.3, 178.0, 3350.0, 700, 900, 1.6, 2.6, (8, 8, 4), 8, 900.0, True, 1),
    GpuModel("A100 SXM4", 81920, 19.5, 92.0, 2039.0, 400, 800, 0.75, 1.3, (8, 4), 6, 600.0, True),
    GpuModel("A100 PCIE", 40960, 19.5, 74.0, 1555.0, 250, 800, 0.55, 1.0, (4, 2, 8), 4, 0.0, True),
    GpuModel("L40S", 46068, 91.6, 112.0, 864.0, 350, 890, 0.55, 0.95, (8, 4), 5, 0.0, True),
    GpuModel("RTX 6000Ada", 49140, 91.1, 106.0, 960.0, 300, 890, 0.55, 0.9, (4, 8, 2), 5),
    GpuModel("A40", 46068, 37.4, 52.0, 696.0, 300, 860, 0.3, 0.5, (4, 8), 3, 0.0, True),
    GpuModel("RTX A6000", 49140, 38.7, 55.0, 768.0, 300, 860, 0.35, 0.55, (4, 2, 8), 4),
    GpuModel("RTX 5090", 32607, 104.8, 141.0, 1792.0, 575, 1200, 0.5, 0.9, (1, 2, 4, 8), 9, 0.0, False, 4),
    GpuModel("RTX 4090", 24564, 82.6, 106.6, 1008.0, 450, 890, 0.25, 0.5, (1, 2, 4, 8), 16),
    GpuModel("RTX 3090", 24576, 35.6, 46.0, 936.0, 350, 860, 0.12, 0.25, (1, 2, 4, 8), 12),
    GpuModel("Tesla V100", 32768, 15.7, 31.0, 900.0, 300, 700, 0.15, 0.3, (8, 4), 3, 300.0, True),
)

# (driver version, max CUDA it supports)
DRIVERS = (
    ("535.183.01", 12.2),
    ("550.127.05", 12.4),
    ("560.35.03", 12.6),
    ("565.57.01", 12.7),
    ("570.133.07", 12.8),
    ("575.57.08", 12.9),
    ("580.65.06", 13.0),
)

# (region, country code, weight)
LOCATIONS = (
    ("California", "US", 5),
    ("Texas", "US", 4),
    ("Virginia", "US", 3),
    ("Oregon", "US", 2),
    ("Quebec", "CA", 3),
    ("Ontario", "CA", 2),
    ("Hesse", "DE", 3),
    ("Bavaria", "DE", 1),
    ("North Holland", "NL", 2),
    ("Ile-de-France", "FR", 2),
    ("England", "GB", 2),
    ("Stockholm County", "SE", 2),
    ("Oslo", "NO", 1),
    ("Uusimaa", "FI", 2),
    ("Masovian Voivodeship", "PL", 2),
    ("Prague", "CZ", 1),
    ("Madrid", "ES", 1),
    ("Tokyo", "JP", 2),
    ("Seoul", "KR", 1),
    ("Taipei City", "TW", 2),
    ("New South Wales", "AU", 1),
    ("Sao Paulo", "BR", 1),
    ("Guangdong", "CN", 2),
)

DATACENTER_CPUS = (
    ("AMD EPYC 9454 48-Core Processor", 192, 2.75),
    ("Intel(R) Xeon(R) Platinum 8480+", 224, 2.0),
    ("AMD EPYC 7B13 64-Core Processor", 256, 2.45),
    ("AMD EPYC 7763 64-Core Processor", 256, 2.45),
    ("Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", 128, 2.0),
)
HOME_CPUS = (
    ("AMD Ryzen 9 7950X 16-Core Processor", 32, 4.5),
    ("AMD Ryzen Threadripper PRO 5975WX 32-Cores", 64, 3.6),
    ("13th Gen Intel(R) Core(TM) i9-13900K", 32, 3.0),
    ("AMD EPYC 7642 48-Core Processor", 96, 2.3),
    ("Intel(R) Xeon(R) CPU E5-2698 v4 @ 2.20GHz", 80, 2.2),
    ("AMD Ryzen 9 5950X 16-Core Processor", 32, 3.4),
)
DATACENTER_BOARDS = ("X13DEG-QT", "H12DSG-O-CPU", "ROMED8-2T", "SYS-821GE-TNHR", "G593-SD0")
HOME_BOARDS = ("H12SSL-i", "PRO WS WRX80E-SAGE SE WIFI", "ROMED8-2T", "Z790 AORUS ELITE", "X11DPG-OT-CPU")
DISKS = (
    "Samsung SSD 990 PRO 2TB",
    "INTEL SSDPE2KX080T8",
    "Micron_7450_MTFDKCC3T8TFR",
    "SAMSUNG MZQL27T6HBLA-00A07",
    "WD_BLACK SN850X 4000GB",
    "KIOXIA KCD81RUG7T68",
)
OS_VERSIONS = ("20.04", "22.04", "22.04", "24.04")
IP_PREFIXES = ("192.0.2", "198.51.100", "203.0.113")

TEMPLATES = {
    "4e17788f74f075dd9aab7d0d4427968f": {"name": "PyTorch (Vast)", "image": "vastai/pytorch:latest", "id": 341},
    "661d064bbda1f2a133816b6d55da07c3": {
        "name": "NVIDIA CUDA",
        "image": "vastai/base-image:@vastai-automatic-tag",
        "id": 312,
    },
}


def _bundle_sizes(machine_gpus, rng):
    """The GPU counts a machine lists offers for: the whole machine plus some slices."""
    sizes = [n for n in (1, 2, 4, 8) if n < machine_gpus and rng.random() < 0.6]
    return sorted({*sizes, machine_gpus})


def _reliability(rng, datacenter):
    """A host reliability in 0..1, skewed high (datacenters higher still)."""
    floor = 0.97 if datacenter else 0.90
    return round(1 - (1 - floor) * rng.random() ** 2, 7)


def _machine(rng, model, hosts):
    """One host machine's static description (shared by its offers)."""
    datacenter = model.datacenter or rng.random() < 0.15
    region, country, _ = rng.choices(LOCATIONS, weights=[w for *_, w in LOCATIONS])[0]
    cpu_name, cpu_cores, cpu_ghz = rng.choice(DATACENTER_CPUS if datacenter else HOME_CPUS)
    gpus = rng.choice(model.machine_gpus)
    driver = rng.randrange(model.min_driver, len(DRIVERS))
    verification = "verified" if datacenter else rng.choices(("verified", "unverified", "deverified"), (72, 22, 6))[0]
    pci_gen = 5.0 if model.compute_cap >= 900 or model.name == "RTX 5090" else rng.choice((3.0, 4.0, 4.0))
    return {
        "machine_id": rng.randrange(10000, 60000),
        "host_id": rng.choice(hosts),
        "gpus": gpus,
        "datacenter": datacenter,
        "geolocation": f"{region}, {country}",
        "cpu_name": cpu_name,
        "cpu_cores": cpu_cores,
        "cpu_ghz": cpu_ghz,
        "cpu_ram": rng.choice((128, 256, 512, 1024, 2048)) * 1024 if datacenter else rng.choice((64, 128, 256)) * 1024,
        "mobo_name": rng.choice(DATACENTER_BOARDS if datacenter else HOME_BOARDS),
        "disk_name": rng.choice(DISKS),
        "disk_space": rng.choice((1000, 2000, 4000, 8000, 15000)) * (2 if datacenter else 1),
        "disk_bw": round(rng.uniform(1500, 7000) if datacenter else rng.uniform(400, 3500), 1),
        "inet_up": round(rng.uniform(800, 9500) if datacenter else rng.uniform(40, 900), 1),
        "inet_down": round(rng.uniform(900, 9800) if datacenter else rng.uniform(80, 1000), 1),
        "inet_cost": round(rng.choice((0.0, 0.0, 0.002, 0.005, 0.01, 0.02)), 4),
        "storage_cost": round(rng.uniform(0.05, 0.3), 5),
        "reliability": _reliability(rng, datacenter),
        "verification": verification,
        "driver": driver,
        "pci_gen": pci_gen,
        "pcie_bw": round({3.0: 12.0, 4.0: 24.5, 5.0: 50.0}[pci_gen] * rng.uniform(0.45, 1.0), 1),
        "gpu_lanes": 16 if datacenter or rng.random() < 0.7 else 8,
        "direct_port_count": rng.choice((0, 10, 100, 249, 500, 1000, 1001)),
        "static_ip": datacenter or rng.random() < 0.3,
        "public_ipaddr": f"{rng.choice(IP_PREFIXES)}.{rng.randrange(2, 254)}",
        "os_version": rng.choice(OS_VERSIONS),
        "vms_enabled": datacenter and rng.random() < 0.5,
        "gpu_max_temp": rng.choice((83.0, 85.0, 87.0, 90.0)),
        "start_offset": rng.uniform(3, 400) * 86400,
        "end_offset": rng.uniform(5, 240) * 86400,
        "per_gpu_price": rng.uniform(model.price_low, model.price_high),
        "credit_discount_max": rng.choice((0.1, 0.2, 0.3, 0.4)),
        "gpu_ids": [rng.randrange(10000, 999999) for _ in range(gpus)],
    }


def _offer(rng, model, machine, num_gpus):
    """One offer (a bundle of `num_gpus` GPUs on `machine`), static fields only."""
    frac = num_gpus / machine["gpus"]
    ask_id = rng.randrange(11_000_000, 29_999_999)
    driver_version, cuda = DRIVERS[machine["driver"]]
    dph_base = round(machine["per_gpu_price"] * num_gpus * (1 - 0.02 * (num_gpus.bit_length() - 1)), 6)
    reliability = machine["reliability"]
    offer = {
        "id": ask_id,
        "ask_contract_id": ask_id,
        "bundle_id": rng.randrange(1_000_000_000, 2_000_000_000),
        "bundled_results": None,
        "machine_id": machine["machine_id"],
        "host_id": machine["host_id"],
        "gpu_name": model.name,
        "num_gpus": num_gpus,
        "gpu_ram": model.ram_mb,
        "gpu_total_ram": model.ram_mb * num_gpus,
        "gpu_frac": round(frac, 4),
        "gpu_ids": machine["gpu_ids"][:num_gpus],
        "gpu_arch": "nvidia",
        "gpu_lanes": machine["gpu_lanes"],
        "gpu_mem_bw": round(model.mem_bw * rng.uniform(0.92, 1.0), 1),
        "gpu_max_power": float(model.max_power),
        "gpu_max_temp": machine["gpu_max_temp"],
        "gpu_display_active": not machine["datacenter"] and rng.random() < 0.1,
        "compute_cap": model.compute_cap,
        "cuda_max_good": cuda,
        "driver_version": driver_version,
        "driver_vers": driver_vers(driver_version),
        "bw_nvlink": model.nvlink_bw if num_gpus > 1 else 0.0,
        "total_flops": round(model.tflops * num_gpus * rng.uniform(0.95, 1.02), 2),
        "dlperf": round(model.dlperf * num_gpus * rng.uniform(0.85, 1.02), 2),
        "cpu_name": machine["cpu_name"],
        "cpu_arch": "amd64",
        "cpu_cores": machine["cpu_cores"],
        "cpu_cores_effective": round(machine["cpu_cores"] * frac, 1),
        "cpu_ghz": machine["cpu_ghz"],
        "cpu_ram": int(machine["cpu_ram"] * frac),
        "mobo_name": machine["mobo_name"],
        "pci_gen": machine["pci_gen"],
        "pcie_bw": machine["pcie_bw"],
        "has_avx": 1,
        "disk_space": round(machine["disk_space"] * frac * rng.uniform(0.6, 0.95), 1),
        "disk_bw": machine["disk_bw"],
        "disk_name": machine["disk_name"],
        "inet_up": machine["inet_up"],
        "inet_down": machine["inet_down"],
        "inet_up_cost": machine["inet_cost"],
        "inet_down_cost": machine["inet_cost"],
        "internet_up_cost_per_tb": round(machine["inet_cost"] * 1024, 4),
        "internet_down_cost_per_tb": round(machine["inet_cost"] * 1024, 4),
        "direct_port_count": machine["direct_port_count"],
        "static_ip": machine["static_ip"],
        "public_ipaddr": machine["public_ipaddr"],
        "geolocation": machine["geolocation"],
        "geolocode": zlib.crc32(machine["geolocation"][-2:].encode()),
        "dph_base": dph_base,
        "storage_cost": machine["storage_cost"],
        "min_bid": round(dph_base * rng.uniform(0.35, 0.7), 6),
        "credit_discount_max": machine["credit_discount_max"],
        "reliability": reliability,
        "reliability2": reliability,
        "reliability_mult": round(reliability**8, 6),
        "expected_reliability": round(reliability * rng.uniform(0.96, 1.0), 6),
        "verification": machine["verification"],
        "vericode": 1 if machine["verification"] == "verified" else 0,
        "external": None,
        "hosting_type": 1 if machine["datacenter"] else 0,
        "vms_enabled": machine["vms_enabled"],
        "is_vm_deverified": False,
        "os_version": machine["os_version"],
        "start_offset": machine["start_offset"],
        "end_offset": machine["end_offset"],
        "time_remaining": "",
        "time_remaining_isbid": "",
        "hostname": None,
        "webpage": None,
        "logo": "/static/logos/vastai_small2.png",
        "resource_type": "gpu",
        "cluster_id": None,
        "avail_vol_ask_id": None,
        "avail_vol_dph": None,
        "avail_vol_size": None,
        "nw_disk_min_bw": None,
        "nw_disk_max_bw": None,
        "nw_disk_avg_bw": None,
    }
    offer["score"] = round(offer["dlperf"] / dph_base * reliability**4 * 0.45, 4)
    return offer


def driver_vers(version):
    """The integer form of a dotted driver version: 535.86.05 -> 535086005."""
    parts = str(version).split(".")
    return int("".join(part.zfill(3) for part in parts))


@functools.cache
def machines(seed):
    """The host machines as (model, machine) pairs, deterministic from `seed`."""
    rng = random.Random(seed)
    hosts = [rng.randrange(1000, 400000) for _ in range(40)]
    models = rng.choices(GPU_MODELS, weights=[m.weight for m in GPU_MODELS], k=MACHINE_COUNT - len(GPU_MODELS))
    # Every model appears at least once, whatever the seed.
    pairs = [(model, _machine(rng, model, hosts)) for model in (*GPU_MODELS, *models)]
    seen = set()
    for _, machine in pairs:
        while machine["machine_id"] in seen:
            machine["machine_id"] = rng.randrange(10000, 60000)
        seen.add(machine["machine_id"])
    return tuple(pairs)


@functools.cache
def offers(seed):
    """All offers of the catalog (static fields), deterministic from `seed`."""
    rng = random.Random(seed + 1)
    result, seen = [], set()
    for model, machine in machines(seed):
        for num_gpus in _bundle_sizes(machine["gpus"], rng):
            offer = _offer(rng, model, machine, num_gpus)
            while offer["id"] in seen:
                offer["id"] = offer["ask_contract_id"] = rng.randrange(11_000_000, 29_999_999)
            seen.add(offer["id"])
            result.append(offer)
    return tuple(result)


@functools.cache
def offers_by_id(seed):
    """The catalog's offers keyed by offer id."""
    return {offer["id"]: offer for offer in offers(seed)}


@functools.cache
def machine_gpus(seed):
    """GPUs installed per machine id, for the capacity check."""
    return {machine["machine_id"]: machine["gpus"] for _, machine in machines(seed)}


def gpu_names(seed):
    """The distinct GPU model names on offer, as the API spells them."""
    return sorted({offer["gpu_name"] for offer in offers(seed)})
