import { redirect } from 'next/navigation.js';

/** The dashboard starts at the backups overview. */
export default function HomePage(): never {
  redirect('/backups');
}
