"""tf.distribute strategies: one device, all local GPUs (or logical CPUs), multi-worker."""
import tensorflow as tf


def split_cpu(num_devices: int) -> None:
    """Splits the CPU into `num_devices` logical devices (must run before TF starts them)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:  # (listing logical devices would start them, so try the split first)
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
    except RuntimeError as e:
        if len(tf.config.list_logical_devices("CPU")) < num_devices:
            raise RuntimeError(f"cannot split the CPU into {num_devices} devices: TensorFlow "
                               f"already started with fewer ({e})") from e


def make_strategy(name: str = "default", num_cpu_devices: int = 2
                  ) -> tf.distribute.Strategy:
    """`mirrored` uses every local GPU, or `num_cpu_devices` logical CPUs when there is
    none (how the multi-device path is exercised on CPU); `multi_worker` reads TF_CONFIG.
    `name` is a validated runtime.distribution_strategy."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if tf.config.list_physical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        split_cpu(num_cpu_devices)
        return tf.distribute.MirroredStrategy(
            [f"/cpu:{i}" for i in range(num_cpu_devices)])
    return tf.distribute.MultiWorkerMirroredStrategy()
