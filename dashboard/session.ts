// sessionStorage: the key lives as long as the tab and is never written anywhere longer-lived.
const STORAGE_KEY = 'gomodel-ts.master-key';

export const storedKey = (): string | null => sessionStorage.getItem(STORAGE_KEY);
export const storeKey = (key: string): void => sessionStorage.setItem(STORAGE_KEY, key);
export const forgetKey = (): void => sessionStorage.removeItem(STORAGE_KEY);
