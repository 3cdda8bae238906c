"""An instance as the API shows it, computed lazily from stored timestamps.

No background thread moves instances along: `actual_status` is derived from
`started_at`/`ready_at` and the simulator clock whenever a row is rendered,
so any process answers consistently.
"""

import hashlib

from django.conf import settings

from vastsim import catalog, pricing, workload

# Columns the v1 list can filter and order on; everything else is computed (400).
STORED_COLUMNS = frozenset(
    {
        "id",
        "actual_status",
        "intended_status",
        "cur_state",
        "next_state",
        "label",
        "gpu_name",
        "verification",
        "machine_id",
        "host_id",
        "bundle_id",
        "image_uuid",
        "image_runtype",
        "start_date",
        "end_date",
        "template_id",
        "template_hash_id",
        "template_name",
        "geolocation",
        "status_msg",
        "is_bid",
    }
)


def boot_seconds():
    """How long a new instance spends provisioning and loading."""
    return float(settings.VASTSIM_BOOT_SECONDS)


def reboot_seconds():
    """How long a reboot (docker stop + start, the GPU kept) shows `rebooting`."""
    return boot_seconds() / 2


def actual_status(instance, now):
    """null (provisioning) -> loading -> running; exited once stopped, or when the workload
    exits on its own (vastsim.workload); scheduling while a start waits for its GPU (Vast
    answered resources_unavailable); rebooting -> running."""
    if instance.cur_state == "stopped":
        return "scheduling" if instance.intended_status == "running" else "exited"
    if instance.rebooted_at is not None and instance.rebooted_at <= now < instance.ready_at:
        return "rebooting"
    if now >= instance.ready_at:
        exits = workload.exit_at(instance)
        return "exited" if exits is not None and now >= exits else "running"
    provisioning = min(2.0, (instance.ready_at - instance.started_at) / 4)
    return None if now - instance.started_at < provisioning else "loading"


def _ports(instance, base):
    """Docker-style port map: ssh, jupyter when asked, and `-p` env flags."""
    container_ports = ["22/tcp"]
    if "jupyter" in instance.runtype:
        container_ports.append("8080/tcp")
    for key, _ in instance.env:
        if key.startswith("-p ") and ":" in key:
            port = key.split(":")[-1].strip()
            container_ports.append(port if "/" in port else f"{port}/tcp")
    return {
        port: [{"HostIp": "0.0.0.0", "HostPort": str(base + i)}]
        for i, port in enumerate(dict.fromkeys(container_ports))
    }


def _time_remaining(seconds):
    """Vast's human form of a duration, e.g. '2 Mon 4 D 3 Hr'."""
    seconds = max(0, int(seconds))
    months, rest = divmod(seconds, 30 * 86400)
    days, rest = divmod(rest, 86400)
    return f"{months} Mon {days} D {rest // 3600} Hr" if months else f"{days} D {rest // 3600} Hr"


def _status_msg(instance, status):
    """The stored message if any, else one matching the status."""
    if instance.status_msg:
        return instance.status_msg
    if status == "running":
        return f"success, running {instance.image.replace(':', '_')}/{instance.runtype.split()[0]}"
    if status == "loading":
        return f"Pulling image {instance.image}"
    if status == "exited":
        return "Instance stopped." if instance.cur_state == "stopped" else "Container exited with code 0."
    if status == "rebooting":
        return "Rebooting: restarting the container."
    return None


def render(instance, now):
    """The full instance object (§4.2 fields) at time `now`."""
    offer = instance.offer
    status = actual_status(instance, now)
    running = status == "running"
    contract_id = instance.contract_id
    template = catalog.TEMPLATES.get(instance.template_hash_id)
    is_bid = instance.bid_price is not None
    dph_base = instance.bid_price if is_bid else offer["dph_base"]
    storage_total_cost = pricing.storage_hourly(offer["storage_cost"], instance.disk)
    dph_total = dph_base + storage_total_cost
    base_port = 40000 + (offer["machine_id"] * 13 + instance.pk * 101) % 20000
    ports = _ports(instance, base_port) if running else None
    uptime = now - instance.ready_at if running else None
    disk_used = round(min(instance.disk, 2.5 + (now - instance.created_at) / 3600), 2)
    return {
        "id": contract_id,
        "actual_status": status,
        "intended_status": instance.intended_status,
        "cur_state": instance.cur_state,
        "next_state": instance.intended_status,
        "status_msg": _status_msg(instance, status),
        "label": instance.label,
        "template_id": template["id"] if template else None,
        "template_hash_id": instance.template_hash_id or None,
        "template_name": template["name"] if template else None,
        "image_uuid": instance.image,
        "image_args": instance.args or [],
        "image_runtype": instance.runtype,
        "extra_env": [list(pair) for pair in instance.env],
        "onstart": instance.onstart,
        "jupyter_token": hashlib.sha256(f"jupyter:{instance.pk}:{instance.created_at}".encode()).hexdigest()
        if running
        else None,
        "ssh_host": f"ssh{1 + instance.pk % 9}.vast.ai" if running else None,
        "ssh_port": 20000 + contract_id % 40000 if running else None,
        "ssh_idx": str(1 + instance.pk % 9) if running else None,
        "machine_dir_ssh_port": base_port if running else None,
        "public_ipaddr": offer["public_ipaddr"] if running else None,
        "local_ipaddrs": f"172.17.0.{2 + instance.pk % 250} 10.{instance.pk % 250}.0.2" if running else None,
        "ports": ports,
        "direct_port_start": base_port if running else -1,
        "direct_port_end": base_port + len(ports) - 1 if running else -1,
        "direct_port_count": len(ports) if running else -1,
        "machine_id": offer["machine_id"],
        "host_id": offer["host_id"],
        "bundle_id": offer["bundle_id"],
        "start_date": instance.created_at,
        "end_date": offer["end_date"],
        "duration": offer["end_date"] - now,
        "uptime_mins": round(uptime / 60, 2) if running else None,
        "num_gpus": offer["num_gpus"],
        "gpu_name": offer["gpu_name"],
        "gpu_arch": offer["gpu_arch"],
        "gpu_ram": offer["gpu_ram"],
        "gpu_totalram": offer["gpu_total_ram"],
        "gpu_frac": offer["gpu_frac"],
        "gpu_lanes": offer["gpu_lanes"],
        "gpu_mem_bw": offer["gpu_mem_bw"],
        "bw_nvlink": offer["bw_nvlink"],
        "cpu_name": offer["cpu_name"],
        "cpu_arch": offer["cpu_arch"],
        "cpu_cores": offer["cpu_cores"],
        "cpu_cores_effective": offer["cpu_cores_effective"],
        "cpu_ram": offer["cpu_ram"],
        "mem_limit": round(offer["cpu_ram"] / 1024, 3),
        **workload.monitoring(instance, now, running),
        "disk_space": instance.disk,
        "disk_usage": disk_used if status is not None else -1,
        "disk_util": round(disk_used / instance.disk, 4) if status is not None else -1,
        "disk_bw": offer["disk_bw"],
        "disk_name": offer["disk_name"],
        "inet_up": offer["inet_up"],
        "inet_down": offer["inet_down"],
        "inet_up_cost": offer["inet_up_cost"],
        "inet_down_cost": offer["inet_down_cost"],
        "dph_base": dph_base,
        "dph_total": dph_total,
        "storage_cost": offer["storage_cost"],
        "storage_total_cost": storage_total_cost,
        "vram_costperhour": dph_base / (offer["gpu_total_ram"] / 1024),
        "search": pricing.breakdown(dph_base, storage_total_cost, dph_total),
        "instance": pricing.breakdown(dph_base, storage_total_cost, dph_total),
        "min_bid": offer["min_bid"],
        "is_bid": is_bid,
        "credit_balance": None,
        "credit_discount": None,
        "credit_discount_max": offer["credit_discount_max"],
        "dlperf": offer["dlperf"],
        "dlperf_per_dphtotal": offer["dlperf"] / dph_total,
        "flops_per_dphtotal": offer["total_flops"] / dph_total,
        "total_flops": offer["total_flops"],
        "score": offer["score"],
        "compute_cap": offer["compute_cap"],
        "cuda_max_good": offer["cuda_max_good"],
        "driver_version": offer["driver_version"],
        "reliability2": offer["reliability"],
        "verification": offer["verification"],
        "rentable": True,
        "static_ip": offer["static_ip"],
        "external": offer["external"],
        "hosting_type": offer["hosting_type"],
        "geolocation": offer["geolocation"],
        "country_code": offer["geolocation"][-2:],
        "os_version": offer["os_version"],
        "mobo_name": offer["mobo_name"],
        "pci_gen": offer["pci_gen"],
        "pcie_bw": offer["pcie_bw"],
        "logo": offer["logo"],
        "webpage": offer["webpage"],
        "client_run_time": round(uptime, 1) if running else 0.0,
        "host_run_time": round(uptime, 1) if running else 0.0,
        "time_remaining": _time_remaining(offer["end_date"] - now),
        "time_remaining_isbid": _time_remaining(offer["end_date"] - now) if is_bid else "",
        "volume_info": [],
    }
