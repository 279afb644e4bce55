"""Settings of the retriever service: what it loads, what it accepts, how it scales.

One `ServeConfig` feeds `vdgray serve`, the Serve application builder (`serve run
vdgray.serve.app:app index_uri=... model_uri=...` and the RayService's `args`), the demo's
serve check and the benchmark, so limits and batching are the same wherever it runs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vdgray.config import StageConfig, Uri, UseGpu
from vdgray.retrieval.queries import Limits
from vdgray.runtime import RayConfig


class ServeConfig(StageConfig):
    """Settings of the retriever service."""

    model_uri: Uri = Field(..., description="CIR model dir URI (train-cir output) used to encode queries.")
    index_uri: Uri = Field(..., description="Index prefix URI (the output of `vdgray index`).")
    image_root: Uri | None = Field(None, description="Where an indexed CIRR split's images are now, for image_id queries (default: the image root `vdgray index` found and recorded); set it when the images moved since.")
    max_image_bytes: int = Field(4_000_000, ge=1, description="Largest decoded reference image (bytes, after base64) accepted.")
    max_image_pixels: int = Field(16_000_000, ge=1, description="Most pixels (width x height, read from the image header before decoding) of a sent reference image.")
    max_text_chars: int = Field(512, ge=1, description="Longest modification text accepted (characters).")
    max_k: int = Field(100, ge=1, description="Largest top-k a request may ask for.")
    default_k: int = Field(10, ge=1, description="top-k when a request does not say.")
    max_batch_queries: int = Field(64, ge=1, description="Most queries in one POST /search/batch.")
    batching: bool = Field(True, description="Encode concurrent queries together (@serve.batch); false: one forward per query.")
    max_batch_size: int = Field(32, ge=1, description="Most queries per model forward (@serve.batch).")
    batch_wait_timeout_s: float = Field(0.01, ge=0, description="Longest wait for a batch to fill (@serve.batch).")
    min_replicas: int = Field(1, ge=0, description="Retriever replicas kept up (autoscaling).")
    max_replicas: int = Field(2, ge=1, description="Most Retriever replicas (autoscaling).")
    target_ongoing_requests: float = Field(16, gt=0, description="Ongoing requests per Retriever replica the autoscaler aims for.")
    upscale_delay_s: float = Field(30.0, ge=0, description="How long the load must stay above target before the autoscaler adds a replica (Serve's upscale_delay_s).")
    downscale_delay_s: float = Field(300.0, ge=0, description="How long the load must stay below target before the autoscaler removes a replica (Serve's downscale_delay_s; long, so a lull does not drop warm replicas).")
    look_back_period_s: float = Field(30.0, gt=0, description="Window the autoscaler averages ongoing requests over (Serve's look_back_period_s).")
    metrics_interval_s: float | None = Field(None, gt=0, description="How often replicas and the proxy report their load to the autoscaler (Serve's metrics_interval_s, deprecated there but what Ray 2.60 uses; default: Serve's 10 s). Keep it below look_back_period_s.")
    max_replicas_per_node: int | None = Field(None, ge=1, description="Most Retriever replicas on one node (1: each replica on its own node, so losing a node loses one replica; default: no limit).")
    proxy_location: Literal["EveryNode", "HeadOnly", "Disabled"] = Field("EveryNode", description="Where Serve runs its HTTP proxies (`vdgray serve`): EveryNode (behind a load balancer), HeadOnly (one entry point on the head, which a worker node's loss leaves up).")
    health_check_period_s: float = Field(10.0, gt=0, description="How often Serve checks each Retriever replica's health (a failed check replaces the replica).")
    health_check_timeout_s: float = Field(30.0, gt=0, description="How long a health check may take before the replica counts as unhealthy (generous: a loaded node answers slowly).")
    max_ongoing_requests: int = Field(64, ge=1, description="Requests a Retriever replica accepts at once (queued beyond that).")
    num_cpus: float = Field(1.0, ge=0, description="CPUs per Retriever replica.")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per Retriever replica (>0 also puts the model there).")
    torch_threads: int | None = Field(None, ge=1, description="torch threads per Retriever replica (default: max(1, round(num_cpus))).")
    faiss_gpu: UseGpu = Field("auto", description="Search the index on the GPU (auto: when the replica has one and faiss supports it).")
    nprobe: int | None = Field(None, ge=1, description="IVF lists probed per query (default: the index's own).")
    host: str = Field("127.0.0.1", description="HTTP host `vdgray serve` binds.")
    port: int = Field(8000, ge=1, le=65535, description="HTTP port `vdgray serve` binds.")
    app_name: str = Field("retriever", description="Serve application name.")
    ray: RayConfig = Field(default_factory=RayConfig, description="Ray cluster to use or start (`vdgray serve`).")

    @model_validator(mode="after")
    def _check(self):
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must be <= max_replicas "
                             f"({self.max_replicas})")
        if self.metrics_interval_s is not None and self.metrics_interval_s >= self.look_back_period_s:
            raise ValueError(f"metrics_interval_s ({self.metrics_interval_s}) must be < "
                             f"look_back_period_s ({self.look_back_period_s}): the autoscaler "
                             "averages several reports over that window")
        if self.default_k > self.max_k:
            raise ValueError(f"default_k ({self.default_k}) must be <= max_k ({self.max_k})")
        return self

    def threads(self) -> int:
        return self.torch_threads or max(1, round(self.num_cpus))

    def faiss_use_gpu(self, has_gpu: bool | None = None):
        """faiss_gpu resolved for a replica; `has_gpu` (the replica got one) beats num_gpus."""
        if not (self.num_gpus > 0 if has_gpu is None else has_gpu):
            return False
        return self.faiss_gpu

    def limits(self) -> Limits:
        return Limits(**self.model_dump(include=set(Limits.model_fields)))

    def autoscaling(self) -> dict:
        """The Retriever's `autoscaling_config`."""
        auto = {"min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                "initial_replicas": max(1, self.min_replicas),
                "target_ongoing_requests": self.target_ongoing_requests,
                "upscale_delay_s": self.upscale_delay_s,
                "downscale_delay_s": self.downscale_delay_s,
                "look_back_period_s": self.look_back_period_s}
        if self.metrics_interval_s is not None:  # Serve warns whenever it is set
            auto["metrics_interval_s"] = self.metrics_interval_s
        return auto

    def deployment_options(self) -> dict:
        """The Retriever deployment's options: scaling, placement, health checks."""
        return {"autoscaling_config": self.autoscaling(),
                "max_ongoing_requests": self.max_ongoing_requests,
                "max_replicas_per_node": self.max_replicas_per_node,
                "health_check_period_s": self.health_check_period_s,
                "health_check_timeout_s": self.health_check_timeout_s,
                "ray_actor_options": {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}}
