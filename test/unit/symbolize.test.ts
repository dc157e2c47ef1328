import { describe, expect, it } from 'vitest';
import { symbolFromPs } from '../../src/kernel/symbolize.js';

describe("the kernel's %pS text → name+0xoffset", () => {
  it('a function of the kernel, of a module, with dots in its name', () => {
    expect(symbolFromPs('tcp_data_queue+0x7a5/0x1000')).toBe('tcp_data_queue+0x7a5');
    expect(symbolFromPs('virtio_transport_recv_pkt+0x434/0x9a0 [vmw_vsock_virtio_transport_common]')).toBe('virtio_transport_recv_pkt+0x434');
    expect(symbolFromPs('uncore_box_ref.part.0+0x0/0xd0')).toBe('uncore_box_ref.part.0+0x0');
  });
  it('no symbol there: the bare address %pS prints, or nothing, names nothing', () => {
    expect(symbolFromPs('0xffff888000001000')).toBeUndefined();
    expect(symbolFromPs('')).toBeUndefined();
    expect(symbolFromPs('tcp_data_queue+0x7a5/0x10')).toBe('tcp_data_queue+0x7a5'); // cut texts are not judged by size
    expect(symbolFromPs('tcp_data_queue+0x7a5/0x1000 [vmw_vsock_vir')).toBeUndefined(); // cut inside the module: not trusted
  });
});
