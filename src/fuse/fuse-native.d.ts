// The parts of fuse-native (a CommonJS package without types) that Wharf uses.
declare module 'fuse-native' {
  type Cb = (err: number) => void;
  interface Stat {
    mode: number; uid: number; gid: number; size: number; nlink: number; ino?: number; rdev?: number;
    // Read by the rebuilt fuse-native only (scripts/build-fuse-native.mjs, fix 6).
    atimeSubMs?: number; mtimeSubMs?: number; ctimeSubMs?: number;
    blksize?: number; blocks?: number; atime: Date | number; mtime: Date | number; ctime: Date | number;
  }
  interface StatFs {
    bsize: number; frsize: number; blocks: number; bfree: number; bavail: number;
    files: number; ffree: number; favail: number; fsid: number; flag: number; namemax: number;
  }
  export interface Operations {
    init?(cb: Cb): void;
    getattr?(path: string, cb: (err: number, stat?: Stat) => void): void;
    fgetattr?(path: string, fd: number, cb: (err: number, stat?: Stat) => void): void;
    readdir?(path: string, cb: (err: number, names?: string[], stats?: Stat[]) => void): void;
    open?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
    create?(path: string, mode: number, cb: (err: number, fd?: number) => void): void;
    release?(path: string, fd: number, cb: Cb): void;
    read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (bytesOrErr: number) => void): void;
    write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (bytesOrErr: number) => void): void;
    flush?(path: string, fd: number, cb: Cb): void;
    fsync?(path: string, datasync: boolean, fd: number, cb: Cb): void;
    truncate?(path: string, size: number, cb: Cb): void;
    ftruncate?(path: string, fd: number, size: number, cb: Cb): void;
    mkdir?(path: string, mode: number, cb: Cb): void;
    rmdir?(path: string, cb: Cb): void;
    unlink?(path: string, cb: Cb): void;
    rename?(src: string, dest: string, cb: Cb): void;
    link?(src: string, dest: string, cb: Cb): void;
    symlink?(target: string, path: string, cb: Cb): void;
    readlink?(path: string, cb: (err: number, target?: string) => void): void;
    chmod?(path: string, mode: number, cb: Cb): void;
    chown?(path: string, uid: number, gid: number, cb: Cb): void;
    utimens?(path: string, atime: number, mtime: number, cb: Cb): void;
    statfs?(path: string, cb: (err: number, s?: StatFs) => void): void;
    mknod?(path: string, mode: number, dev: number, cb: Cb): void;
    setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: Cb): void;
    getxattr?(path: string, name: string, position: number, cb: (err: number, value?: Buffer | null) => void): void;
    listxattr?(path: string, cb: (err: number, list?: string[]) => void): void;
    removexattr?(path: string, name: string, cb: Cb): void;
    access?(path: string, mode: number, cb: Cb): void;
    opendir?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
    releasedir?(path: string, fd: number, cb: Cb): void;
  }
  export interface FuseOptions {
    force?: boolean; mkdir?: boolean; debug?: boolean; allowOther?: boolean; defaultPermissions?: boolean;
    fsname?: string; subtype?: string; attrTimeout?: number; entryTimeout?: number; maxRead?: number;
    autoCache?: boolean; kernelCache?: boolean; timeout?: number | false | { default?: number; [op: string]: number | false | undefined }; bigWrites?: boolean;
  }
  export default class Fuse {
    constructor(mnt: string, ops: Operations, opts?: FuseOptions);
    mount(cb: (err: Error | null) => void): void;
    /** Who made the request being handled now (Wharf's fix of fuse-native); undefined without the fix. */
    caller(): { uid: number; gid: number; pid: number; umask: number } | undefined;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
    static isConfigured(cb: (err: Error | null, configured: boolean) => void): void;
  }
}
