"""Private Redis Cluster and Sentinel setups of ``redis-server`` processes."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.crc import key_slot

from pytest_alertbench.servers import Processes, RedisServer, free_port

# Short timeouts so that a killed master is replaced in a few seconds.
NODE_TIMEOUT_MS = 1000
SENTINEL_DOWN_AFTER_MS = 1000
KEY_SLOTS = 16384
_FAST_SYNC = ("--repl-diskless-sync-delay", "0")


def cluster_tools_available() -> bool:
    """Return True if both ``redis-server`` and ``redis-cli`` are on PATH."""
    return all(shutil.which(tool) for tool in ("redis-server", "redis-cli"))


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass  # a node still starting or just killed: ask again below
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


class RedisClusterProcesses(Processes):
    """A Redis Cluster of ``masters`` masters with ``replicas`` replicas each.

    Every node is a ``RedisServer`` in its own temporary directory with
    ``cluster-require-full-coverage no``, so that while one shard is down the
    others keep serving their slots.

    Args:
        masters: Number of masters: 1 (a single node owning every slot, the
            baseline of a throughput comparison) or at least 3 (what
            ``redis-cli --cluster create`` accepts).
        replicas: Replicas per master.
        node_timeout_ms: ``cluster-node-timeout``; failover takes a few times it.
    """

    def __init__(
        self,
        masters: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = NODE_TIMEOUT_MS,
    ) -> None:
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.nodes: list[RedisServer] = []

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL naming every node as a seed."""
        seeds = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)
        return f"redis+cluster://{seeds}"

    def start(self, timeout: float = 30.0) -> RedisClusterProcesses:
        """Start the nodes, join them with ``redis-cli --cluster create``, wait."""
        args = (
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            str(self.node_timeout_ms),
            "--cluster-require-full-coverage",
            "no",
            "--appendonly",
            "no",
            # Replicas sync at once instead of after the default 5 s delay.
            "--repl-diskless-sync-delay",
            "0",
        )
        try:
            for _ in range(self.masters * (1 + self.replicas)):
                # The default bus port is port + 10000, past 65535 for a high
                # free port, so each node gets its own free bus port.
                bus = ("--cluster-port", str(free_port()))
                self.nodes.append(RedisServer(extra_args=args + bus).start())
            self._create(timeout)
            _wait("cluster state ok", self._healthy, timeout)
        except BaseException:
            self.cleanup()
            raise
        return self

    def _create(self, timeout: float) -> None:
        if self.masters == 1 and self.replicas == 0:
            client = _client(self.nodes[0].port)
            try:
                client.execute_command("CLUSTER ADDSLOTSRANGE", 0, KEY_SLOTS - 1)
            finally:
                client.close()
            return
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        command = ["redis-cli", "--cluster", "create", *addresses]
        command += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout}")

    def _healthy(self) -> bool:
        owners = {port for _start, _end, port in self.slot_ranges()}
        live = self.live_nodes()
        if not owners <= {node.port for node in live}:
            return False
        for node in live:
            client = _client(node.port)
            try:
                info = client.cluster("INFO")
                replication = client.info("replication")
            finally:
                client.close()
            if info.get("cluster_state") != "ok":
                return False
            if int(info.get("cluster_slots_ok", 0)) != KEY_SLOTS:
                return False
            # A replica that never synced refuses to be promoted, so a test
            # must not kill a master before its replica is linked.
            linked = replication.get("master_link_status", "up") == "up"
            if replication.get("role") == "slave" and not linked:
                return False
        return len(owners) == self.masters

    def slot_ranges(self) -> list[tuple[int, int, int]]:
        """``(first slot, last slot, master port)`` as a running node sees them."""
        for node in self.live_nodes():
            client = _client(node.port)
            try:
                reply = client.execute_command("CLUSTER SLOTS")
            except redis.RedisError:
                continue
            finally:
                client.close()
            # Each entry: first slot, last slot, [host, port, id] of the master,
            # then one such triple per replica.
            return [(int(e[0]), int(e[1]), int(e[2][1])) for e in reply]
        raise RuntimeError("no cluster node answers")

    def live_nodes(self) -> list[RedisServer]:
        """The nodes whose process runs."""
        return [node for node in self.nodes if node.process is not None]

    def master_nodes(self) -> list[RedisServer]:
        """The running nodes that own slots now."""
        owners = {port for _start, _end, port in self.slot_ranges()}
        return [node for node in self.live_nodes() if node.port in owners]

    def node_for_key(self, key: str) -> RedisServer:
        """The node that owns ``key``'s slot now (it may have been killed)."""
        slot = key_slot(key.encode())
        for first, last, port in self.slot_ranges():
            if first <= slot <= last:
                return next(node for node in self.nodes if node.port == port)
        raise LookupError(f"no node owns the slot of {key!r}")

    def wait_failover(self, timeout: float = 30.0) -> None:
        """Wait until every slot is served again after a master was killed."""
        _wait("cluster failover", self._healthy, timeout)

    def cleanup(self) -> None:
        """Stop every node and remove its directory."""
        for node in self.nodes:
            node.cleanup()
        self.nodes = []


class SentinelServer(RedisServer):
    """A ``redis-server --sentinel`` process watching one master.

    Args:
        service: The name the master is monitored under.
        master_port: The master's port on 127.0.0.1.
        quorum: Sentinels that must agree the master is down.
    """

    def __init__(self, service: str, master_port: int, quorum: int = 2) -> None:
        super().__init__()
        self.service = service
        self.master_port = master_port
        self.quorum = quorum

    def start(self, timeout: float = 10.0) -> SentinelServer:
        """Write the sentinel's config file (it rewrites it), start, wait."""
        config = self.directory / "sentinel.conf"
        name = self.service
        config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.directory}\n"
            f"logfile {self.directory / 'sentinel.log'}\n"
            f"sentinel monitor {name} 127.0.0.1 {self.master_port} {self.quorum}\n"
            f"sentinel down-after-milliseconds {name} {SENTINEL_DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {name} 5000\n"
            f"sentinel parallel-syncs {name} 1\n"
        )
        self.process = subprocess.Popen(
            ["redis-server", str(config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_ready(timeout)
        return self


class SentinelSetup(Processes):
    """One master, ``replicas`` replicas and ``sentinels`` sentinels.

    Args:
        service: The Sentinel service name of the master.
        replicas: Number of replicas.
        sentinels: Number of sentinels (quorum is a majority of them).
    """

    def __init__(
        self, service: str = "alerts", replicas: int = 1, sentinels: int = 3
    ) -> None:
        self.service = service
        self.replica_count = replicas
        self.sentinel_count = sentinels
        self.data_nodes: list[RedisServer] = []
        self.sentinels: list[SentinelServer] = []

    @property
    def url(self) -> str:
        """A ``redis+sentinel://`` URL naming every sentinel and the service."""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}"

    def start(self, timeout: float = 30.0) -> SentinelSetup:
        """Start master, replicas and sentinels; wait until all see each other."""
        try:
            master = RedisServer(extra_args=_FAST_SYNC).start()
            self.data_nodes.append(master)
            for _ in range(self.replica_count):
                follow = ("--replicaof", "127.0.0.1", str(master.port))
                replica = RedisServer(extra_args=(*_FAST_SYNC, *follow))
                self.data_nodes.append(replica.start())
            quorum = self.sentinel_count // 2 + 1
            for _ in range(self.sentinel_count):
                sentinel = SentinelServer(self.service, master.port, quorum)
                self.sentinels.append(sentinel.start())
            _wait("sentinels to see replicas", self._settled, timeout)
        except BaseException:
            self.cleanup()
            raise
        return self

    def _settled(self) -> bool:
        for sentinel in self.sentinels:
            client = _client(sentinel.port)
            try:
                state = client.sentinel_master(self.service)
                if int(state.get("num-slaves", 0)) < self.replica_count:
                    return False
                if int(state.get("num-other-sentinels", 0)) < len(self.sentinels) - 1:
                    return False
            finally:
                client.close()
        return True

    def master(self) -> RedisServer:
        """The data node the sentinels name as master now."""
        client = _client(self.sentinels[0].port)
        try:
            _host, port = client.sentinel_get_master_addr_by_name(self.service)
        finally:
            client.close()
        for node in self.data_nodes:
            if node.port == int(port):
                return node
        raise LookupError(f"sentinels name an unknown master on port {port}")

    def wait_failover(self, old: RedisServer, timeout: float = 30.0) -> RedisServer:
        """Wait until the sentinels name a master other than ``old``; return it."""
        _wait("sentinel failover", lambda: self.master() is not old, timeout)
        new = self.master()
        _wait("new master to accept writes", lambda: _is_master(new.port), timeout)
        return new

    def cleanup(self) -> None:
        """Stop sentinels and data nodes and remove their directories."""
        for server in [*self.sentinels, *self.data_nodes]:
            server.cleanup()
        self.sentinels = []
        self.data_nodes = []


def wait_replicated(nodes: list[RedisServer], timeout: float = 10.0) -> None:
    """Wait until every replica of the running ``nodes`` has all their writes.

    Replication is asynchronous: a write acknowledged just before its master
    dies may be missing on the promoted replica. Tests that check our side of
    a failover call this before the kill, so that they measure only it.
    """

    def caught_up() -> bool:
        for node in nodes:
            if node.process is None:
                continue
            client = _client(node.port)
            try:
                info = client.info("replication")
            finally:
                client.close()
            if info.get("role") != "master":
                continue
            offset = int(info["master_repl_offset"])
            for index in range(int(info.get("connected_slaves", 0))):
                if int(info[f"slave{index}"]["offset"]) < offset:
                    return False
        return True

    _wait("replicas to catch up", caught_up, timeout)


def _client(port: int) -> Any:
    # Typed loosely: redis-py's reply types for raw commands are unions or Any.
    return redis.Redis(port=port, socket_timeout=1)


def _is_master(port: int) -> bool:
    client = _client(port)
    try:
        return client.execute_command("ROLE")[0] in (b"master", "master")
    finally:
        client.close()
